package check

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// referenceProblems lists what a pod template uses that the same set of
// objects does not define: its ServiceAccount, its ConfigMaps, and a
// StatefulSet's governing Service. Secrets are the user's to create.
func referenceProblems(objs []object) []string {
	defined := map[string]bool{}
	for _, o := range objs {
		switch v := o.(type) {
		case *corev1.ServiceAccount:
			defined["ServiceAccount/"+v.Name] = true
		case *corev1.ConfigMap:
			defined["ConfigMap/"+v.Name] = true
		case *corev1.Service:
			defined["Service/"+v.Name] = true
		}
	}
	var need []string
	for _, p := range podsOf(objs) {
		if sa := p.spec.ServiceAccountName; sa != "" && sa != "default" {
			need = append(need, "ServiceAccount/"+sa)
		}
		for _, v := range p.spec.Volumes {
			if v.ConfigMap != nil {
				need = append(need, "ConfigMap/"+v.ConfigMap.Name)
			}
		}
	}
	for _, o := range objs {
		if sts, ok := o.(*appsv1.StatefulSet); ok && sts.Spec.ServiceName != "" {
			need = append(need, "Service/"+sts.Spec.ServiceName)
		}
	}
	var probs []string
	for _, n := range need {
		if !defined[n] {
			probs = append(probs, fmt.Sprintf("%s is used but not defined", n))
		}
	}
	return probs
}

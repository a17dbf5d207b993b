package check

import (
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// podLabels returns the pod template labels of every workload.
func podLabels(objs []object) []labels.Set {
	var out []labels.Set
	for _, o := range objs {
		switch w := o.(type) {
		case *appsv1.Deployment:
			out = append(out, w.Spec.Template.Labels)
		case *appsv1.StatefulSet:
			out = append(out, w.Spec.Template.Labels)
		case *batchv1.CronJob:
			out = append(out, w.Spec.JobTemplate.Spec.Template.Labels)
		}
	}
	return out
}

// selects reports whether a label selector picks any of the label sets.
func selects(sel *metav1.LabelSelector, sets []labels.Set) (bool, error) {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false, fmt.Errorf("selector %v: %w", sel, err)
	}
	if s.Empty() {
		return false, fmt.Errorf("selector %v: empty", sel)
	}
	return slices.ContainsFunc(sets, func(l labels.Set) bool { return s.Matches(l) }), nil
}

// selectorProblems checks that what selects pods selects this release's
// pods (Service, PodDisruptionBudget, NetworkPolicy, the workloads' own
// selectors), and that a ServiceMonitor selects the Service and names one
// of its ports.
func selectorProblems(objs []object) []string {
	pods := podLabels(objs)
	var probs []string
	check := func(what string, sel *metav1.LabelSelector, sets []labels.Set) {
		if ok, err := selects(sel, sets); err != nil || !ok {
			probs = append(probs, fmt.Sprintf("%s selects none of its targets (%v)", what, err))
		}
	}
	for _, o := range objs {
		switch v := o.(type) {
		case *corev1.Service:
			check("Service "+v.Name, &metav1.LabelSelector{MatchLabels: v.Spec.Selector}, pods)
		case *policyv1.PodDisruptionBudget:
			check("PodDisruptionBudget "+v.Name, v.Spec.Selector, pods)
		case *networkingv1.NetworkPolicy:
			check("NetworkPolicy "+v.Name, &v.Spec.PodSelector, pods)
		case *appsv1.Deployment:
			check("Deployment "+v.Name, v.Spec.Selector, []labels.Set{v.Spec.Template.Labels})
		case *appsv1.StatefulSet:
			check("StatefulSet "+v.Name, v.Spec.Selector, []labels.Set{v.Spec.Template.Labels})
		case *serviceMonitor:
			probs = append(probs, monitorProblems(v, objs)...)
		}
	}
	return probs
}

// monitorProblems checks a ServiceMonitor against the Services.
func monitorProblems(sm *serviceMonitor, objs []object) []string {
	var svcs []labels.Set
	ports := map[string]bool{}
	for _, o := range objs {
		if s, ok := o.(*corev1.Service); ok {
			svcs = append(svcs, s.Labels)
			for _, p := range s.Spec.Ports {
				ports[p.Name] = true
			}
		}
	}
	var probs []string
	if ok, err := selects(&sm.Spec.Selector, svcs); err != nil || !ok {
		probs = append(probs, fmt.Sprintf("ServiceMonitor %s selects no Service (%v)", sm.Name, err))
	}
	for _, e := range sm.Spec.Endpoints {
		if !ports[e.Port] {
			probs = append(probs, fmt.Sprintf("ServiceMonitor %s: no Service port named %q", sm.Name, e.Port))
		}
	}
	return probs
}

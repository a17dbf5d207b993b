package check

import (
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// port is keysync's listen port in a pod.
const port = 10719

// keysyncName is the container name keysync runs under everywhere.
const keysyncName = "keysync"

// pod is one pod template found in the objects, named for messages.
type pod struct {
	name string
	spec *corev1.PodSpec
}

// podsOf returns the pod templates of every workload in objs.
func podsOf(objs []object) []pod {
	var pods []pod
	for _, o := range objs {
		switch w := o.(type) {
		case *appsv1.Deployment:
			pods = append(pods, pod{"Deployment " + w.Name, &w.Spec.Template.Spec})
		case *appsv1.StatefulSet:
			pods = append(pods, pod{"StatefulSet " + w.Name, &w.Spec.Template.Spec})
		case *batchv1.CronJob:
			pods = append(pods, pod{"CronJob " + w.Name, &w.Spec.JobTemplate.Spec.Template.Spec})
		case *batchv1.Job:
			pods = append(pods, pod{"Job " + w.Name, &w.Spec.Template.Spec})
		}
	}
	return pods
}

// allContainers is a pod's init (and native sidecar) and main containers.
func allContainers(s *corev1.PodSpec) []corev1.Container {
	return append(slices.Clone(s.InitContainers), s.Containers...)
}

// podProblems lists what is wrong with a pod template: every container
// hardened and bounded, images without a registry host, the Vault Agent
// with an explicit user, keysync on port 10719, and no keysync readiness
// probe where an application shares the pod.
func podProblems(p pod) []string {
	var probs []string
	if p.spec.SecurityContext == nil || p.spec.SecurityContext.SeccompProfile == nil {
		probs = append(probs, "pod: no seccompProfile")
	}
	for _, c := range allContainers(p.spec) {
		for _, msg := range containerProblems(c) {
			probs = append(probs, fmt.Sprintf("container %s: %s", c.Name, msg))
		}
	}
	if hasApp(p.spec) {
		for _, c := range allContainers(p.spec) {
			if c.Name == keysyncName && c.ReadinessProbe != nil {
				probs = append(probs, "keysync has a readinessProbe in a pod with an application: its failures would take the application out of its Service")
			}
			if c.Name == keysyncName && c.LivenessProbe == nil {
				probs = append(probs, "keysync as a sidecar has no livenessProbe")
			}
		}
	}
	return probs
}

// hasApp reports whether a main container other than keysync runs in
// the pod (keysync is then a sidecar).
func hasApp(s *corev1.PodSpec) bool {
	return slices.ContainsFunc(s.Containers, func(c corev1.Container) bool { return c.Name != keysyncName })
}

// containerProblems checks one container.
func containerProblems(c corev1.Container) []string {
	probs := securityProblems(c.SecurityContext)
	if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		probs = append(probs, "no memory request or limit")
	}
	if c.Resources.Requests.Cpu().IsZero() {
		probs = append(probs, "no cpu request")
	}
	if host := registryHost(c.Image); host != "" {
		probs = append(probs, fmt.Sprintf("image %q names a registry host", c.Image))
	}
	if strings.HasPrefix(c.Image, "hashicorp/vault") && (c.SecurityContext == nil || c.SecurityContext.RunAsUser == nil || *c.SecurityContext.RunAsUser == 0) {
		probs = append(probs, "the vault image has no USER: runAsUser must be set")
	}
	if c.Name == keysyncName {
		probs = append(probs, portProblems(c)...)
	}
	return probs
}

// securityProblems checks a container's securityContext.
func securityProblems(sc *corev1.SecurityContext) []string {
	switch {
	case sc == nil:
		return []string{"no securityContext"}
	case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot:
		return []string{"runAsNonRoot is not true"}
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		return []string{"allowPrivilegeEscalation is not false"}
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		return []string{"readOnlyRootFilesystem is not true"}
	case sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL"):
		return []string{"capabilities do not drop ALL"}
	}
	return nil
}

// registryHost returns the registry host of an image reference, or "".
func registryHost(image string) string {
	first, _, ok := strings.Cut(image, "/")
	if ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return first
	}
	return ""
}

// portProblems checks that keysync's ports and probes use 10719.
func portProblems(c corev1.Container) []string {
	var probs []string
	named := map[string]int32{}
	for _, p := range c.Ports {
		named[p.Name] = p.ContainerPort
		if p.ContainerPort != port {
			probs = append(probs, fmt.Sprintf("containerPort %d, want %d", p.ContainerPort, port))
		}
	}
	for _, pr := range []*corev1.Probe{c.StartupProbe, c.LivenessProbe, c.ReadinessProbe} {
		if pr == nil || pr.HTTPGet == nil {
			continue
		}
		got := pr.HTTPGet.Port.IntVal
		if pr.HTTPGet.Port.StrVal != "" {
			got = named[pr.HTTPGet.Port.StrVal]
		}
		if got != port {
			probs = append(probs, fmt.Sprintf("probe on %s reaches port %d, want %d", pr.HTTPGet.Path, got, port))
		}
	}
	return probs
}

// servicePortProblems checks that Services and NetworkPolicies open 10719
// and nothing else.
func servicePortProblems(objs []object) []string {
	var probs []string
	for _, o := range objs {
		switch v := o.(type) {
		case *corev1.Service:
			for _, p := range v.Spec.Ports {
				if p.Port != port {
					probs = append(probs, fmt.Sprintf("Service %s: port %d, want %d", v.Name, p.Port, port))
				}
			}
		case *networkingv1.NetworkPolicy:
			for _, in := range v.Spec.Ingress {
				for _, p := range in.Ports {
					if p.Port == nil || p.Port.IntValue() != port {
						probs = append(probs, fmt.Sprintf("NetworkPolicy %s: ingress port %v, want %d", v.Name, p.Port, port))
					}
				}
			}
		}
	}
	return probs
}

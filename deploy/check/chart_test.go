package check

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
)

// TestChartRenders renders every values case, decodes each document
// strictly and checks every pod, Service and config in it.
func TestChartRenders(t *testing.T) {
	for _, vc := range valuesCases {
		t.Run(vc.name, func(t *testing.T) {
			objs := mustRender(t, vc)
			pods := podsOf(objs)
			if len(pods) != 1 {
				t.Fatalf("%d workloads, want 1", len(pods))
			}
			for _, p := range pods {
				for _, msg := range podProblems(p) {
					t.Errorf("%s: %s", p.name, msg)
				}
			}
			for _, msg := range slices.Concat(servicePortProblems(objs), referenceProblems(objs), selectorProblems(objs)) {
				t.Error(msg)
			}
			cfgs := keysyncConfigs(t, objs)
			if len(cfgs) != 1 {
				t.Fatalf("%d keysync configs, want 1", len(cfgs))
			}
			want := fmt.Sprintf("0.0.0.0:%d", port)
			if isCronJob(objs) {
				want = "" // --run-now serves nothing
			}
			for name, text := range cfgs {
				if got := listenOf(text); got != want {
					t.Errorf("ConfigMap %s: listen %q, want %q", name, got, want)
				}
			}
		})
	}
}

// isCronJob reports whether the render is the --run-now mode.
func isCronJob(objs []object) bool {
	return slices.ContainsFunc(objs, func(o object) bool { _, ok := o.(*batchv1.CronJob); return ok })
}

// only returns the single object of type T in objs.
func only[T any](t *testing.T, objs []object) T {
	t.Helper()
	var found []T
	for _, o := range objs {
		if v, ok := o.(T); ok {
			found = append(found, v)
		}
	}
	if len(found) != 1 {
		var zero T
		t.Fatalf("%d objects of type %T, want 1", len(found), zero)
	}
	return found[0]
}

// TestChartShards proves pod i of the StatefulSet syncs shard i/n, with i
// the pod's ordinal and n the replica count, and that no pod waits for
// another.
func TestChartShards(t *testing.T) {
	for _, n := range []int{3, 5} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			vc := valuesCase{name: "shards", files: []string{"statefulset-values.yaml"}, set: []string{fmt.Sprintf("replicaCount=%d", n)}}
			sts := only[*appsv1.StatefulSet](t, mustRender(t, vc))
			if sts.Spec.Replicas == nil || int(*sts.Spec.Replicas) != n {
				t.Errorf("replicas %v, want %d", sts.Spec.Replicas, n)
			}
			if sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
				t.Errorf("podManagementPolicy %q, want Parallel", sts.Spec.PodManagementPolicy)
			}
			c := sts.Spec.Template.Spec.Containers[0]
			if want := fmt.Sprintf("$(POD_INDEX)/%d", n); argAfter(c.Args, "--shard") != want {
				t.Errorf("args %q: --shard %q, want %q", c.Args, argAfter(c.Args, "--shard"), want)
			}
			if ref := envFieldRef(c, "POD_INDEX"); ref != "metadata.labels['apps.kubernetes.io/pod-index']" {
				t.Errorf("POD_INDEX from %q, want the pod-index label", ref)
			}
		})
	}
}

// argAfter returns the argument following flag, or "".
func argAfter(args []string, flag string) string {
	i := slices.Index(args, flag)
	if i < 0 || i+1 >= len(args) {
		return ""
	}
	return args[i+1]
}

// envFieldRef returns the downward-API field an env var comes from.
func envFieldRef(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			return e.ValueFrom.FieldRef.FieldPath
		}
	}
	return ""
}

// TestChartCronJob proves the cronjob mode runs --run-now, never two at
// once, and renders nothing that only a daemon needs.
func TestChartCronJob(t *testing.T) {
	objs := mustRender(t, valuesCase{name: "cronjob", files: []string{"cronjob-values.yaml"}})
	cj := only[*batchv1.CronJob](t, objs)
	pod := cj.Spec.JobTemplate.Spec.Template.Spec
	if !slices.Contains(pod.Containers[0].Args, "--run-now") {
		t.Errorf("args %q lack --run-now", pod.Containers[0].Args)
	}
	if cj.Spec.Schedule != "7 * * * *" || cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("schedule %q, concurrencyPolicy %q", cj.Spec.Schedule, cj.Spec.ConcurrencyPolicy)
	}
	if pod.RestartPolicy != corev1.RestartPolicyNever || pod.Containers[0].LivenessProbe != nil {
		t.Errorf("restartPolicy %q, liveness %v", pod.RestartPolicy, pod.Containers[0].LivenessProbe)
	}
	for _, o := range objs {
		switch o.(type) {
		case *corev1.Service, *policyv1.PodDisruptionBudget:
			t.Errorf("cronjob mode renders a %T", o)
		}
	}
	if np := only[*networkingv1.NetworkPolicy](t, objs); len(np.Spec.Ingress) != 0 {
		t.Errorf("cronjob mode admits ingress: %+v", np.Spec.Ingress)
	}
}

// TestChartAPIToken proves the API token comes from the named Secret,
// mounted read-only where the config's [api] token_file points.
func TestChartAPIToken(t *testing.T) {
	objs := mustRender(t, valuesCase{name: "api-token", files: []string{"api-token-values.yaml"}})
	dep := only[*appsv1.Deployment](t, objs)
	cm := only[*corev1.ConfigMap](t, objs)
	if !strings.Contains(cm.Data[configFile], "[api]\ntoken_file = \"/etc/keysync/api/token\"") {
		t.Errorf("config lacks the [api] token_file:\n%s", cm.Data[configFile])
	}
	spec := dep.Spec.Template.Spec
	vol := slices.IndexFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Secret != nil })
	if vol < 0 || spec.Volumes[vol].Secret.SecretName != "keysync-api" {
		t.Fatalf("no volume from Secret keysync-api: %+v", spec.Volumes)
	}
	mounted := slices.ContainsFunc(spec.Containers[0].VolumeMounts, func(m corev1.VolumeMount) bool {
		return m.Name == spec.Volumes[vol].Name && m.MountPath == "/etc/keysync/api" && m.ReadOnly
	})
	if !mounted {
		t.Errorf("the token is not mounted read-only at /etc/keysync/api: %+v", spec.Containers[0].VolumeMounts)
	}
}

// TestChartExtras proves the user's env and volumes come in beside the
// chart's own, not instead of them.
func TestChartExtras(t *testing.T) {
	objs := mustRender(t, valuesCase{name: "vault-ca-shards", files: []string{"vault-ca-values.yaml", "statefulset-values.yaml"}})
	spec := only[*appsv1.StatefulSet](t, objs).Spec.Template.Spec
	c := spec.Containers[0]
	if envFieldRef(c, "POD_INDEX") == "" || !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "VAULT_NAMESPACE" && e.Value == "admin" }) {
		t.Errorf("env %+v lacks POD_INDEX or VAULT_NAMESPACE", c.Env)
	}
	names := func(vs []corev1.VolumeMount) (out []string) {
		for _, v := range vs {
			out = append(out, v.Name+":"+v.MountPath)
		}
		return out
	}
	if got, want := names(c.VolumeMounts), []string{"config:/etc/keysync", "vault-ca:/etc/vault-ca"}; !slices.Equal(got, want) {
		t.Errorf("mounts %q, want %q", got, want)
	}
	if len(spec.Volumes) != 2 || spec.Volumes[1].Secret == nil || spec.Volumes[1].Secret.SecretName != "vault-ca" {
		t.Errorf("volumes %+v, want config and the vault-ca Secret", spec.Volumes)
	}
}

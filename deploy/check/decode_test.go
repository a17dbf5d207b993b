package check

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// object is one decoded manifest: a pointer to its typed API object.
type object any

// kinds maps apiVersion and kind to a new typed object. Anything else is
// refused: a manifest of a kind the check does not know is not checked.
var kinds = map[string]func() object{
	"v1/ConfigMap":                            func() object { return &corev1.ConfigMap{} },
	"v1/Service":                              func() object { return &corev1.Service{} },
	"v1/ServiceAccount":                       func() object { return &corev1.ServiceAccount{} },
	"v1/Secret":                               func() object { return &corev1.Secret{} },
	"apps/v1/Deployment":                      func() object { return &appsv1.Deployment{} },
	"apps/v1/StatefulSet":                     func() object { return &appsv1.StatefulSet{} },
	"batch/v1/CronJob":                        func() object { return &batchv1.CronJob{} },
	"batch/v1/Job":                            func() object { return &batchv1.Job{} },
	"networking.k8s.io/v1/NetworkPolicy":      func() object { return &networkingv1.NetworkPolicy{} },
	"policy/v1/PodDisruptionBudget":           func() object { return &policyv1.PodDisruptionBudget{} },
	"monitoring.coreos.com/v1/ServiceMonitor": func() object { return &serviceMonitor{} },
	"monitoring.coreos.com/v1/PrometheusRule": func() object { return &prometheusRule{} },
}

// maxDoc bounds one manifest document.
const maxDoc = 1 << 20

// decodeStrict decodes one YAML document into the typed object its
// apiVersion and kind name. A duplicate key, an unknown field, a value of
// the wrong type or trailing data is an error.
func decodeStrict(doc []byte) (object, error) {
	if len(doc) > maxDoc {
		return nil, fmt.Errorf("document of %d bytes exceeds %d", len(doc), maxDoc)
	}
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, fmt.Errorf("yaml: %w", err)
	}
	var tm metav1.TypeMeta
	if err := json.Unmarshal(js, &tm); err != nil {
		return nil, fmt.Errorf("type: %w", err)
	}
	newObj, ok := kinds[tm.APIVersion+"/"+tm.Kind]
	if !ok {
		return nil, fmt.Errorf("unchecked kind %s %s", tm.APIVersion, tm.Kind)
	}
	obj := newObj()
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(obj); err != nil {
		return nil, fmt.Errorf("%s %s: %w", tm.APIVersion, tm.Kind, err)
	}
	if dec.More() {
		return nil, errors.New("trailing data after the document")
	}
	return obj, nil
}

// serviceMonitor is the part of prometheus-operator's
// monitoring.coreos.com/v1 ServiceMonitor the chart uses; any other field
// fails the strict decode, so a new one must be added here first.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		JobLabel  string               `json:"jobLabel,omitempty"`
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port     string `json:"port"`
			Path     string `json:"path,omitempty"`
			Interval string `json:"interval,omitempty"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// prometheusRule is the part of monitoring.coreos.com/v1 PrometheusRule
// the chart uses.
type prometheusRule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []rule `json:"rules"`
		} `json:"groups"`
	} `json:"spec"`
}

// rule is one alerting rule.
type rule struct {
	Alert       string            `json:"alert"`
	Expr        string            `json:"expr"`
	For         string            `json:"for,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// TestDecodeStrictRefuses proves the strict decoder is strict: each of
// these documents is accepted by a lenient decoder, and each hides a
// mistake the cluster would reject or silently drop.
func TestDecodeStrictRefuses(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"unknown field", "apiVersion: apps/v1\nkind: Deployment\nspec:\n  replica: 3\n", "unknown field"},
		{"misplaced field", "apiVersion: v1\nkind: Service\nspec:\n  containerPort: 10719\n", "unknown field"},
		{"duplicate key", "apiVersion: v1\nkind: ConfigMap\ndata: {a: x}\ndata: {b: y}\n", "already set"},
		{"wrong type", "apiVersion: apps/v1\nkind: StatefulSet\nspec:\n  replicas: three\n", "cannot unmarshal"},
		{"unknown kind", "apiVersion: apps/v1\nkind: DaemonSet\n", "unchecked kind"},
		{"crd unknown field", "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nspec:\n  endpoints: [{port: http, intervall: 30s}]\n", "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeStrict([]byte(tt.doc))
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tt.want)) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

package check

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/cli/values"
	"helm.sh/helm/v3/pkg/getter"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	"helm.sh/helm/v3/pkg/releaseutil"
)

const (
	chartDir = "../helm/keysync"
	// kubeVersion is the oldest the chart supports (the pod-index label).
	kubeVersion = "v1.28.0"
	namespace   = "keysync"
	release     = "ks"
)

// valuesCase is one documented way to install the chart.
type valuesCase struct {
	name  string
	files []string // under the chart's ci/ folder
	set   []string // --set overrides
}

// valuesCases are the renders every test runs over.
var valuesCases = []valuesCase{
	{name: "default"},
	{name: "statefulset", files: []string{"statefulset-values.yaml"}},
	{name: "statefulset-5", files: []string{"statefulset-values.yaml"}, set: []string{"replicaCount=5"}},
	{name: "cronjob", files: []string{"cronjob-values.yaml"}},
	{name: "monitoring", files: []string{"monitoring-values.yaml"}},
	{name: "api-token", files: []string{"api-token-values.yaml"}},
	{name: "vault-ca", files: []string{"vault-ca-values.yaml"}},
	{name: "vault-ca-shards", files: []string{"vault-ca-values.yaml", "statefulset-values.yaml"}},
	{name: "everything", files: []string{"statefulset-values.yaml", "monitoring-values.yaml", "api-token-values.yaml"}},
}

// mergedValues reads the case's values files and overrides as helm's
// command line would.
func mergedValues(t *testing.T, vc valuesCase) map[string]any {
	t.Helper()
	opts := values.Options{Values: vc.set}
	for _, f := range vc.files {
		opts.ValueFiles = append(opts.ValueFiles, filepath.Join(chartDir, "ci", f))
	}
	vals, err := opts.MergeValues(getter.Providers{})
	if err != nil {
		t.Fatalf("values of %s: %v", vc.name, err)
	}
	return vals
}

// render is `helm template` through Helm's Go API: the manifests, one
// string per document, in Helm's install order.
func render(t *testing.T, vals map[string]any) ([]string, error) {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	kv, err := chartutil.ParseKubeVersion(kubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	inst := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	inst.ClientOnly, inst.DryRun, inst.Replace = true, true, true
	inst.ReleaseName, inst.Namespace, inst.KubeVersion = release, namespace, kv
	rel, err := inst.Run(ch, vals)
	if err != nil {
		return nil, err
	}
	return splitDocs(rel.Manifest), nil
}

// splitDocs splits a YAML stream into its non-empty documents, in order.
func splitDocs(stream string) []string {
	m := releaseutil.SplitManifests(stream)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return manifestIndex(a) - manifestIndex(b) })
	var docs []string
	for _, k := range keys {
		if strings.TrimSpace(stripComments(m[k])) != "" {
			docs = append(docs, m[k])
		}
	}
	return docs
}

// manifestIndex reads SplitManifests' "manifest-N" key.
func manifestIndex(key string) int {
	n := 0
	for _, c := range strings.TrimPrefix(key, "manifest-") {
		n = n*10 + int(c-'0')
	}
	return n
}

// stripComments drops whole-line comments, so a document of only
// comments counts as empty.
func stripComments(doc string) string {
	var b strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// mustRender renders a case that must succeed.
func mustRender(t *testing.T, vc valuesCase) []object {
	t.Helper()
	docs, err := render(t, mergedValues(t, vc))
	if err != nil {
		t.Fatalf("render %s: %v", vc.name, err)
	}
	objs := make([]object, 0, len(docs))
	for i, d := range docs {
		if strings.Contains(d, "9464") {
			t.Errorf("render %s, document %d: the old port 9464 appears; keysync listens on 10719", vc.name, i)
		}
		o, err := decodeStrict([]byte(d))
		if err != nil {
			t.Fatalf("render %s, document %d: %v\n%s", vc.name, i, err, d)
		}
		objs = append(objs, o)
	}
	return objs
}

// TestChartLints runs `helm lint` (Helm's Go API) with every values case;
// an error or a warning fails.
func TestChartLints(t *testing.T) {
	kv, err := chartutil.ParseKubeVersion(kubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	for _, vc := range valuesCases {
		t.Run(vc.name, func(t *testing.T) {
			l := lint.AllWithKubeVersion(chartDir, mergedValues(t, vc), namespace, kv)
			for _, m := range l.Messages {
				if m.Severity >= support.WarningSev {
					t.Errorf("lint: %v", m)
				}
			}
		})
	}
}

// TestChartRefusesBadValues proves the chart stops, with a reason, on
// values that would install something broken.
func TestChartRefusesBadValues(t *testing.T) {
	tests := []struct {
		name string
		set  []string
		want string
	}{
		{"unknown mode", []string{"mode=daemonset"}, "at '/mode': value must be one of"},
		{"deployment replicas", []string{"replicaCount=3"}, "use mode statefulset"},
		{"no replicas", []string{"mode=statefulset", "replicaCount=0"}, "at '/replicaCount': minimum"},
		{"token without secret", []string{"api.token.enabled=true"}, "needs api.token.existingSecret"},
		{"misspelt key", []string{"replicaCont=3"}, "replicaCont"},
		{"bad enum", []string{"cronjob.concurrencyPolicy=Never"}, "concurrencyPolicy"},
		{"config sets listen", []string{`config=listen = "127.0.0.1:1"`}, "remove listen and shard"},
		{"config sets shard", []string{"config=  shard = \"0/2\""}, "remove listen and shard"},
		{"config sets api", []string{"config=[api]"}, "remove [api]"},
		{"cronjob monitored", []string{"mode=cronjob", "serviceMonitor.enabled=true"}, "mode cronjob serves no metrics"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := render(t, mergedValues(t, valuesCase{name: tt.name, set: tt.set}))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("render error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

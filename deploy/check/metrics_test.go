package check

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
)

const (
	metricsDir     = "../../internal/metrics"
	dashboard      = "../grafana/keysync.json"
	chartDashboard = "../helm/keysync/dashboards/keysync.json"
)

// runtimeMetrics are the Go and process collectors' series the dashboard
// may use; metrics.go registers those collectors (checked below).
var runtimeMetrics = []string{
	"process_resident_memory_bytes", "process_virtual_memory_bytes", "process_cpu_seconds_total",
	"process_open_fds", "process_start_time_seconds", "go_goroutines", "go_threads",
}

// exportedMetrics reads the metric names keysync registers from
// metrics/metrics.go, with a histogram's _bucket, _sum and _count series.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	// Every non-test file of the package declares metrics: listen.go's
	// were missed once when only metrics.go was read.
	files, err := filepath.Glob(filepath.Join(metricsDir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files in %s: %v", metricsDir, err)
	}
	var all strings.Builder
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(b)
	}
	src := all.String()
	names := map[string]bool{}
	for _, m := range regexp.MustCompile(`Name:\s*"(keysync_[a-z0-9_]+)"`).FindAllStringSubmatch(src, -1) {
		names[m[1]] = true
	}
	for _, m := range regexp.MustCompile(`HistogramOpts\{Name:\s*"([a-z0-9_]+)"`).FindAllStringSubmatch(src, -1) {
		delete(names, m[1]) // a histogram's series are these three
		for _, s := range []string{"_bucket", "_sum", "_count"} {
			names[m[1]+s] = true
		}
	}
	if strings.Contains(src, "NewProcessCollector") && strings.Contains(src, "NewGoCollector") {
		for _, n := range runtimeMetrics {
			names[n] = true
		}
	}
	if !names["keysync_sync_total"] || !names["keysync_sync_duration_seconds_bucket"] {
		t.Fatalf("read no metric names from %s: %v", metricsDir, names)
	}
	return names
}

// promql parses PromQL as Prometheus does.
var promql = parser.NewParser(parser.Options{})

// selectors parses a PromQL expression and returns its vector selectors;
// a syntax error is an error.
func selectors(expr string) ([]*parser.VectorSelector, error) {
	e, err := promql.ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var vs []*parser.VectorSelector
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if v, ok := n.(*parser.VectorSelector); ok {
			vs = append(vs, v)
		}
		return nil
	})
	return vs, nil
}

// metricsIn returns the metric names a PromQL expression selects.
func metricsIn(expr string) ([]string, error) {
	vs, err := selectors(expr)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, v := range vs {
		if v.Name == "" {
			return nil, fmt.Errorf("%q selects no metric by name", v)
		}
		out = append(out, v.Name)
	}
	return out, nil
}

// TestMetricsIn pins the extraction the two tests below rely on.
func TestMetricsIn(t *testing.T) {
	got, err := metricsIn(`sum by (le, job) (rate(keysync_x_bucket{job=~"a|b", result="up"}[5m])) / on (job) group_left up > 0.95`)
	if want := []string{"keysync_x_bucket", "up"}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("metricsIn = %q, %v, want %q", got, err, want)
	}
	for _, bad := range []string{`rate(keysync_x[5m]`, `sum(keysync_x) by`, `{__name__=~"keysync_.*"}`} {
		if _, err := metricsIn(bad); err == nil {
			t.Errorf("metricsIn(%q) accepted it", bad)
		}
	}
}

// TestDashboard parses the Grafana dashboard, checks that the chart's copy
// is the same file, and that every query names only exported metrics.
func TestDashboard(t *testing.T) {
	a, errA := os.ReadFile(dashboard)
	b, errB := os.ReadFile(chartDashboard)
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	if !bytes.Equal(a, b) {
		t.Fatalf("%s and %s differ: copy one onto the other", dashboard, chartDashboard)
	}
	var d map[string]any
	if err := json.Unmarshal(a, &d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	if err := panelProblems(a); err != nil {
		t.Fatal(err)
	}
	exprs := stringsAt(d, "expr")
	if len(exprs) < 10 {
		t.Fatalf("%d queries in the dashboard, want one per metric", len(exprs))
	}
	exported := exportedMetrics(t)
	used := map[string]bool{}
	for _, e := range append(exprs, templateMetrics(stringsAt(d, "query"))...) {
		ms, err := metricsIn(e)
		if err != nil || len(ms) == 0 {
			t.Errorf("query %q: %v, or selects no metric", e, err)
		}
		for _, m := range ms {
			used[m] = true
			if !exported[m] {
				t.Errorf("query %q: keysync exports no %s", e, m)
			}
		}
	}
	for m := range exported {
		if strings.HasPrefix(m, "keysync_") && !strings.HasSuffix(m, "_sum") && !strings.HasSuffix(m, "_count") && !used[m] {
			t.Errorf("the dashboard never shows %s", m)
		}
	}
}

// panelProblems checks the dashboard's shape Grafana needs: a uid and
// title, panels with unique ids, a position and a query on the Prometheus
// data source variable.
func panelProblems(js []byte) error {
	var d struct {
		UID, Title string
		Panels     []struct {
			ID         int
			Title      string
			GridPos    *struct{ H, W, X, Y int }
			Datasource struct{ Type, UID string }
			Targets    []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(js, &d); err != nil {
		return err
	}
	if d.UID == "" || d.Title == "" || len(d.Panels) == 0 {
		return fmt.Errorf("dashboard uid %q, title %q, %d panels", d.UID, d.Title, len(d.Panels))
	}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		switch {
		case ids[p.ID]:
			return fmt.Errorf("panel id %d twice", p.ID)
		case p.GridPos == nil || p.GridPos.W == 0 || p.GridPos.H == 0:
			return fmt.Errorf("panel %q has no position", p.Title)
		case p.Datasource.Type != "prometheus" || p.Datasource.UID != "${datasource}":
			return fmt.Errorf("panel %q: data source %+v, want the ${datasource} variable", p.Title, p.Datasource)
		case len(p.Targets) == 0 || p.Targets[0].Expr == "":
			return fmt.Errorf("panel %q has no query", p.Title)
		}
		ids[p.ID] = true
	}
	return nil
}

// stringsAt collects every string value under the given key, anywhere.
func stringsAt(v any, key string) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if s, ok := val.(string); ok && k == key {
				out = append(out, s)
			} else {
				out = append(out, stringsAt(val, key)...)
			}
		}
	case []any:
		for _, val := range x {
			out = append(out, stringsAt(val, key)...)
		}
	}
	return out
}

// templateMetrics turns the variables' label_values(metric, label) into
// selectors of the metric.
func templateMetrics(queries []string) []string {
	var out []string
	for _, q := range queries {
		if m := regexp.MustCompile(`^label_values\(([^,]+),`).FindStringSubmatch(q); m != nil {
			out = append(out, m[1])
		}
	}
	return out
}

// TestAlerts proves the PrometheusRule holds the alerts keysync's
// operators need, and each names only exported metrics (and Prometheus's
// own up) and label values keysync's code really sets.
func TestAlerts(t *testing.T) {
	pr := only[*prometheusRule](t, mustRender(t, valuesCase{name: "monitoring", files: []string{"monitoring-values.yaml"}}))
	exported := exportedMetrics(t)
	var alerts []string
	for _, g := range pr.Spec.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			ms, err := metricsIn(r.Expr)
			if err != nil {
				t.Errorf("alert %s: %v", r.Alert, err)
			}
			for _, m := range ms {
				if !exported[m] && m != "up" {
					t.Errorf("alert %s: keysync exports no %s", r.Alert, m)
				}
			}
			for _, msg := range resultProblems(t, r.Expr) {
				t.Errorf("alert %s: %s", r.Alert, msg)
			}
		}
	}
	for _, want := range []string{"KeysyncAccountNotSynced", "KeysyncSyncFailing", "KeysyncRotationPending", "KeysyncVaultLoginFailing"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no alert %s in %q", want, alerts)
		}
	}
}

// resultSetters are the packages that set each metric's result label.
var resultSetters = map[string]string{
	"keysync_sync_total":                 "../../sync/runner",
	"keysync_vault_logins_total":         "../../sinks/vault",
	"keysync_vault_token_renewals_total": "../../sinks/vault",
	"keysync_discovery_runs_total":       "../../sync/estate",
}

// resultProblems checks every value an expression matches a result label
// against (each alternative of a regex) is one the code sets: returned
// (`return "failed"`) or passed last (`renewed("failure")`) in the
// package that sets the metric's label.
func resultProblems(t *testing.T, expr string) []string {
	t.Helper()
	vs, err := selectors(expr)
	if err != nil {
		t.Fatal(err)
	}
	var probs []string
	for _, v := range vs {
		for _, m := range v.LabelMatchers {
			if m.Name != "result" {
				continue
			}
			src := goSource(t, resultSetters[v.Name])
			for _, val := range strings.Split(m.Value, "|") {
				q := regexp.QuoteMeta(strconv.Quote(val))
				if !regexp.MustCompile(`return\s+` + q + `|` + q + `\)`).MatchString(src) {
					probs = append(probs, fmt.Sprintf("%s never has result=%q", v.Name, val))
				}
			}
		}
	}
	return probs
}

// goSource concatenates the non-test Go files of one package directory;
// "" (a metric with no known setter) reads nothing.
func goSource(t *testing.T, dir string) string {
	t.Helper()
	if dir == "" {
		return ""
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Go files in %s (%v)", dir, err)
	}
	var b strings.Builder
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(src)
	}
	return b.String()
}

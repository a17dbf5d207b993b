package check

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const (
	metricsFile    = "../../metrics/metrics.go"
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
	b, err := os.ReadFile(metricsFile)
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
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
		t.Fatalf("read no metric names from %s: %v", metricsFile, names)
	}
	return names
}

// promqlWords are PromQL's functions, aggregations and keywords.
var promqlWords = []string{
	"sum", "min", "max", "avg", "count", "topk", "bottomk", "quantile", "by", "without",
	"rate", "irate", "increase", "delta", "histogram_quantile", "time", "vector", "abs",
	"clamp_min", "clamp_max", "absent", "changes", "resets", "label_replace",
	"and", "or", "unless", "on", "ignoring", "group_left", "group_right", "bool", "offset",
}

var (
	promString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promMatchers = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
)

// metricsIn returns the metric names a PromQL expression selects: its
// identifiers less label matchers, ranges, groupings and PromQL's words.
func metricsIn(expr string) []string {
	s := promString.ReplaceAllString(expr, `""`)
	s = promMatchers.ReplaceAllString(s, " ")
	s = promGrouping.ReplaceAllString(s, " ")
	var out []string
	for _, id := range promIdent.FindAllString(s, -1) {
		if !slices.Contains(promqlWords, id) {
			out = append(out, id)
		}
	}
	return out
}

// TestMetricsIn pins the extraction the two tests below rely on.
func TestMetricsIn(t *testing.T) {
	got := metricsIn(`sum by (le, job) (rate(keysync_x_bucket{job=~"a|b", result="up"}[5m])) / on (job) group_left up > 0.95`)
	if want := []string{"keysync_x_bucket", "up"}; !slices.Equal(got, want) {
		t.Fatalf("metricsIn = %q, want %q", got, want)
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
	exprs := stringsAt(d, "expr")
	if len(exprs) < 10 {
		t.Fatalf("%d queries in the dashboard, want one per metric", len(exprs))
	}
	exported := exportedMetrics(t)
	used := map[string]bool{}
	for _, e := range append(exprs, templateMetrics(stringsAt(d, "query"))...) {
		ms := metricsIn(e)
		if len(ms) == 0 {
			t.Errorf("query %q selects no metric", e)
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
	exported, source := exportedMetrics(t), goSource(t)
	var alerts []string
	for _, g := range pr.Spec.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			for _, m := range metricsIn(r.Expr) {
				if !exported[m] && m != "up" {
					t.Errorf("alert %s: keysync exports no %s", r.Alert, m)
				}
			}
			for _, v := range labelValues(r.Expr, "result") {
				if !strings.Contains(source, `"`+v+`"`) {
					t.Errorf("alert %s: keysync never sets result=%q", r.Alert, v)
				}
			}
		}
	}
	for _, want := range []string{"KeysyncAccountNotSynced", "KeysyncSyncFailing", "KeysyncRotationPending", "KeysyncVaultLoginFailing"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no alert %s in %q", want, alerts)
		}
	}
}

// labelValues returns the values an expression matches a label against,
// alternatives of a regex match split.
func labelValues(expr, label string) []string {
	var out []string
	re := regexp.MustCompile(`\b` + label + `\s*=~?\s*"([^"]*)"`)
	for _, m := range re.FindAllStringSubmatch(expr, -1) {
		out = append(out, strings.Split(m[1], "|")...)
	}
	return out
}

// goSource concatenates the main module's non-test Go files.
func goSource(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "deploy" || d.Name() == "tools" || strings.HasPrefix(d.Name(), ".")) && path != "../.." {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			src, err := os.ReadFile(path)
			b.Write(src)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

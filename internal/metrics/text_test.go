package metrics

import (
	"bytes"
	"compress/gzip"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/keysync/keysync/sync/scheduler"
)

// scrape GETs the handler with the headers given and returns the body,
// decompressed, and the response's header.
func scrape(t *testing.T, m *Metrics, header http.Header) (string, http.Header) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header = header
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, req)
	resp := rec.Result()
	defer resp.Body.Close()
	var body io.Reader = resp.Body
	if resp.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		body = gz
	}
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), resp.Header
}

// families parses the text format into one text block per family.
func families(t *testing.T, text string) map[string]string {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("the scrape does not parse: %v\n%s", err, text)
	}
	return textOf(t, mfs)
}

func textOf(t *testing.T, mfs map[string]*dto.MetricFamily) map[string]string {
	t.Helper()
	out := map[string]string{}
	for name, mf := range mfs {
		var b bytes.Buffer
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(b.String(), "\n")
		slices.Sort(lines) // series order within a family carries no meaning
		out[name] = strings.Join(lines, "\n")
	}
	return out
}

// TestTextScrapeMatchesTheRegistry: the text the handler writes itself
// parses to the very families the registry's own encoder gives, odd
// label values included, plain and gzipped; protobuf still works.
func TestTextScrapeMatchesTheRegistry(t *testing.T) {
	m := New("test")
	now := time.Unix(1700000000, 0)
	var e estate
	for _, label := range []string{"back\\slash", "line\nfeed", "plain", `quo"te`} {
		e = append(e, acct(label, map[string]uint32{"create": 1, "unchanged": 1}, true, 1500*time.Millisecond, 0, now, time.Time{}))
	}
	e[2].Skipped = 1
	e = append(e, acct("rot", map[string]uint32{"update": 1}, true, 0, 0, now, now))
	m.SetEstate(e)
	m.ARMResponse("200")
	gathered, err := m.gatherers().Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]*dto.MetricFamily{}
	for _, mf := range gathered {
		want[mf.GetName()] = mf
	}
	wantText := textOf(t, want)
	for _, enc := range []string{"", "gzip"} {
		body, h := scrape(t, m, http.Header{"Accept-Encoding": {enc}})
		if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Fatalf("Content-Type %q", ct)
		}
		got := families(t, body)
		for name, w := range wantText {
			if strings.HasPrefix(name, "keysync_") && got[name] != w { // the runtime's own move
				t.Errorf("encoding %q: family %s\n got: %s\nwant: %s", enc, name, got[name], w)
			}
		}
		if len(got) != len(wantText) {
			t.Errorf("encoding %q: %d families, want %d", enc, len(got), len(wantText))
		}
	}
	_, h := scrape(t, m, http.Header{"Accept": {"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"}})
	if ct := h.Get("Content-Type"); !strings.Contains(ct, "protobuf") {
		t.Errorf("asked for protobuf, got %q", ct)
	}
}

// walks counts the walks over the estate a scrape makes.
type walks struct {
	estate
	n *int
}

func (w walks) EachAccount(f func(*scheduler.AccountSeries)) {
	*w.n++
	w.estate.EachAccount(f)
}

// TestTextScrapeNamed: a scrape that names families (name[]=, as
// promhttp filters) gets those alone, and one naming no per-account
// family does not walk the accounts; one that does walks them for the
// totals (which decide whether per-account series are exported), then
// for the family. The text path used to write every
// family whatever was named, walking every account for a poll of one.
func TestTextScrapeNamed(t *testing.T) {
	m := New("test")
	n := 0
	m.SetEstate(walks{estate{acct("a", map[string]uint32{"create": 1}, true, 0, 0, time.Unix(1700000000, 0), time.Time{})}, &n})
	m.ARMResponse("200")
	for _, tt := range []struct {
		names []string
		walks int
	}{
		{[]string{"keysync_arm_requests_total"}, 0},
		{[]string{"keysync_sync_total", "keysync_arm_requests_total"}, 2}, // the totals, then the family
	} {
		n = 0
		req := httptest.NewRequest(http.MethodGet, "/metrics?"+url.Values{"name[]": tt.names}.Encode(), nil)
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, req)
		got := slices.Sorted(maps.Keys(families(t, rec.Body.String())))
		if !slices.Equal(got, slices.Sorted(slices.Values(tt.names))) || n != tt.walks {
			t.Errorf("name[]=%v: families %v, %d walks; want the named alone, %d walks", tt.names, got, n, tt.walks)
		}
	}
}

// BenchmarkScrape is one /metrics scrape of 10,000 accounts with four
// series each, in the text format the handler writes itself and in
// protobuf, which goes the registry's way: -benchmem shows what a scrape
// allocates.
func BenchmarkScrape(b *testing.B) {
	m := New("bench")
	now := time.Now()
	e := make(estate, 10_000)
	for i := range e {
		e[i] = acct("account"+strconv.Itoa(i), map[string]uint32{"create": 1, "unchanged": 1}, true, 0, 0, now, time.Time{})
	}
	m.SetEstate(e)
	for name, accept := range map[string]string{"text": "text/plain", "protobuf": "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			h := m.Handler()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
				req.Header.Set("Accept", accept)
				h.ServeHTTP(discard{httptest.NewRecorder()}, req)
			}
		})
	}
}

// discard is a ResponseWriter that drops the body.
type discard struct{ *httptest.ResponseRecorder }

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// TestSchedulerTurn: each turn the scheduler reports is one sample of
// keysync_scheduler_turn_seconds, in its bucket.
func TestSchedulerTurn(t *testing.T) {
	m := New("test")
	var _ scheduler.TurnObserver = m
	m.Turned(20 * time.Microsecond)
	m.Turned(3 * time.Second)
	body, _ := scrape(t, m, http.Header{})
	for _, want := range []string{"keysync_scheduler_turn_seconds_count 2\n", `keysync_scheduler_turn_seconds_bucket{le="4e-05"} 1` + "\n",
		`keysync_scheduler_turn_seconds_bucket{le="2.62144"} 1` + "\n", `keysync_scheduler_turn_seconds_bucket{le="10.48576"} 2` + "\n",
		`keysync_scheduler_turn_seconds_bucket{le="+Inf"} 2` + "\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("no %q in the scrape", want)
		}
	}
}

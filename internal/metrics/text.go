package metrics

import (
	"bufio"
	"cmp"
	"compress/gzip"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
)

// Handler serves the metrics in the Prometheus exposition format. In the
// text format (what Prometheus asks for unless told otherwise) the
// per-account series are written straight from their counts: a registry
// would first make an object of every series, several hundred bytes each
// and all alive until the scrape is written, which at 100,000 accounts
// is over 100 MB for each scrape. Other formats go the registry's way.
func (m *Metrics) Handler() http.Handler {
	full := promhttp.HandlerFor(m.gatherers(), promhttp.HandlerOpts{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		format := expfmt.NegotiateAccept(r.Header, expfmt.DefaultAcceptedFormats()...)
		if format.FormatType() != expfmt.TypeTextPlain {
			full.ServeHTTP(w, r)
			return
		}
		m.serveText(w, r, format)
	})
}

// gatherers are every metric, the per-account ones included.
func (m *Metrics) gatherers() prometheus.Gatherers {
	return prometheus.Gatherers{m.reg, m.accountReg}
}

// serveText writes the registry's families, then the per-account ones.
func (m *Metrics) serveText(w http.ResponseWriter, r *http.Request, format expfmt.Format) {
	mfs, err := m.reg.Gather()
	if err != nil {
		http.Error(w, "gathering metrics: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", string(format))
	w.Header().Add("Vary", "Accept-Encoding")
	var out io.Writer = w
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		w.Header().Set("Content-Encoding", "gzip")
		gz := gzip.NewWriter(w)
		defer func() { _ = gz.Close() }() // after the flush below: defers run last first
		out = gz
	}
	bw := bufio.NewWriterSize(out, 32<<10)
	defer func() { _ = bw.Flush() }() // an error is the client gone
	enc := expfmt.NewEncoder(bw, format)
	for _, mf := range mfs {
		if enc.Encode(mf) != nil {
			return // the client went away
		}
	}
	m.accounts.writeText(bw)
}

// acceptsGzip reports whether an Accept-Encoding header takes gzip.
func acceptsGzip(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		coding, params, _ := strings.Cut(part, ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") && strings.ReplaceAll(params, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// labelled is one account in a scrape's snapshot.
type labelled struct {
	label string
	a     *account
}

// snapshot lists the accounts by label; the map is locked only while it
// is copied (24 bytes an account), never while the scrape is written.
func (as *accounts) snapshot() []labelled {
	as.mu.RLock()
	out := make([]labelled, 0, len(as.byLabel))
	for label, a := range as.byLabel {
		out = append(out, labelled{label, a})
	}
	as.mu.RUnlock()
	slices.SortFunc(out, func(x, y labelled) int { return cmp.Compare(x.label, y.label) })
	return out
}

// writeText writes every per-account family in the text format.
func (as *accounts) writeText(w *bufio.Writer) {
	list := as.snapshot()
	t := textWriter{w: w, help: as.help}
	t.family(list, "keysync_account_backoff_seconds", "gauge", hasBackoff, func(a *account) float64 { return float64(math.Float32frombits(a.backoff.Load())) })
	t.family(list, "keysync_last_rotation_timestamp_seconds", "gauge", hasRotation, func(a *account) float64 { return float64(a.lastRotation.Load()) })
	t.family(list, "keysync_last_success_timestamp_seconds", "gauge", hasLastSuccess, func(a *account) float64 { return float64(a.lastSuccess.Load()) })
	t.syncs(list)
	t.family(list, "keysync_ticks_skipped_total", "counter", hasSkipped, func(a *account) float64 { return float64(a.skipped.Load()) })
}

// textWriter writes samples, each family's HELP and TYPE before its first.
type textWriter struct {
	w    *bufio.Writer
	help map[string]string
	buf  []byte
}

// family writes one series per account that has it.
func (t *textWriter) family(list []labelled, name, typ string, flag uint32, value func(*account) float64) {
	started := false
	for _, l := range list {
		if l.a.has.Load()&flag == 0 {
			continue
		}
		if !started {
			t.header(name, typ)
			started = true
		}
		t.sample(name, l.label, "", value(l.a))
	}
}

// syncs writes keysync_sync_total: one series per account and result.
func (t *textWriter) syncs(list []labelled) {
	const name = "keysync_sync_total"
	started := false
	start := func() {
		if !started {
			t.header(name, "counter")
			started = true
		}
	}
	for _, l := range list {
		for i := range outcomes {
			if n := l.a.syncs[i].Load(); n > 0 {
				start()
				t.sample(name, l.label, outcomes[i], float64(n))
			}
		}
		if o := l.a.other.Load(); o != nil {
			o.mu.Lock()
			for result, n := range o.n {
				start()
				t.sample(name, l.label, result, float64(n))
			}
			o.mu.Unlock()
		}
	}
}

// header writes a family's HELP and TYPE lines.
func (t *textWriter) header(name, typ string) {
	t.buf = append(t.buf[:0], "# HELP "...)
	t.buf = append(t.buf, name...)
	t.buf = append(t.buf, ' ')
	t.buf = appendEscaped(t.buf, t.help[name], false)
	t.buf = append(t.buf, "\n# TYPE "...)
	t.buf = append(t.buf, name...)
	t.buf = append(t.buf, ' ')
	t.buf = append(t.buf, typ...)
	t.buf = append(t.buf, '\n')
	_, _ = t.w.Write(t.buf)
}

// sample writes name{account="label"[,result="result"]} value.
func (t *textWriter) sample(name, label, result string, v float64) {
	t.buf = append(t.buf[:0], name...)
	t.buf = append(t.buf, `{account="`...)
	t.buf = appendEscaped(t.buf, label, true)
	if result != "" {
		t.buf = append(t.buf, `",result="`...)
		t.buf = appendEscaped(t.buf, result, true)
	}
	t.buf = append(t.buf, `"} `...)
	t.buf = appendFloat(t.buf, v)
	t.buf = append(t.buf, '\n')
	_, _ = t.w.Write(t.buf)
}

// appendEscaped escapes as the text format does: a backslash and a line
// feed, and in a label value a double quote too.
func appendEscaped(b []byte, s string, quote bool) []byte {
	for i := range len(s) {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, `\\`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '"' && quote:
			b = append(b, `\"`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendFloat formats v as the text format's encoder does.
func appendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, +1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

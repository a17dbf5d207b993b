package metrics

import (
	"bufio"
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

	"github.com/keysync/keysync/sync/scheduler"
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

// serveText writes the registry's families, then the per-account ones;
// only those named when the query names some (name[]=, as promhttp
// filters), so that a poll of one family does not walk every account.
func (m *Metrics) serveText(w http.ResponseWriter, r *http.Request, format expfmt.Format) {
	wanted := named(r.URL.Query()["name[]"])
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
		if !wanted(mf.GetName()) {
			continue
		}
		if enc.Encode(mf) != nil {
			return // the client went away
		}
	}
	m.accounts.writeText(bw, wanted)
	m.derived.writeText(bw, wanted)
}

// named is whether a family is asked for: every one when names is empty.
func named(names []string) func(string) bool {
	return func(name string) bool { return len(names) == 0 || slices.Contains(names, name) }
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

// writeText writes every per-account family in the text format, each in
// one pass over the estate.
func (as *accounts) writeText(w *bufio.Writer, wanted func(string) bool) {
	t := textWriter{w: w, help: as.help, wanted: wanted}
	if !slices.ContainsFunc(as.names, wanted) {
		return // a poll of other families walks no account
	}
	tot := as.totals()
	exported := as.perAccount(tot.accounts)
	t.writeTotals(tot, exported)
	if !exported {
		return
	}
	t.family(as, "keysync_account_backoff_seconds", "gauge", func(a *scheduler.AccountSeries) (float64, bool) {
		return a.Backoff.Seconds(), a.Finished
	})
	t.family(as, "keysync_last_rotation_timestamp_seconds", "gauge", func(a *scheduler.AccountSeries) (float64, bool) {
		return unixSeconds(a.LastRotation), !a.LastRotation.IsZero()
	})
	t.family(as, "keysync_last_success_timestamp_seconds", "gauge", func(a *scheduler.AccountSeries) (float64, bool) {
		return unixSeconds(a.LastSuccess), !a.LastSuccess.IsZero()
	})
	t.syncs(as)
	t.family(as, "keysync_ticks_skipped_total", "counter", func(a *scheduler.AccountSeries) (float64, bool) {
		return float64(a.Skipped), a.Skipped > 0
	})
}

// textWriter writes samples, each family's HELP and TYPE before its first.
type textWriter struct {
	w      *bufio.Writer
	help   map[string]string
	wanted func(string) bool // the families asked for
	buf    []byte
}

// family writes one series per label that has it, if asked for.
func (t *textWriter) family(as *accounts, name, typ string, value func(*scheduler.AccountSeries) (float64, bool)) {
	if !t.wanted(name) {
		return
	}
	started := false
	as.each(func(a *scheduler.AccountSeries) {
		v, ok := value(a)
		if !ok {
			return
		}
		if !started {
			t.header(name, typ)
			started = true
		}
		t.sample(name, a.Label, "", v)
	})
}

// syncs writes keysync_sync_total: one series per label and result.
func (t *textWriter) syncs(as *accounts) {
	const name = "keysync_sync_total"
	if !t.wanted(name) {
		return
	}
	started := false
	as.each(func(a *scheduler.AccountSeries) {
		for i := range outcomes {
			if n := a.Syncs[i]; n > 0 {
				if !started {
					t.header(name, "counter")
					started = true
				}
				t.sample(name, a.Label, outcomes[i], float64(n))
			}
		}
	})
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

// sample writes name{account="label",result="result"} value, each label
// only when not empty.
func (t *textWriter) sample(name, label, result string, v float64) {
	t.buf = append(t.buf[:0], name...)
	sep := byte('{')
	if label != "" {
		t.buf = append(t.buf, `{account="`...)
		t.buf = appendEscaped(t.buf, label, true)
		t.buf = append(t.buf, '"')
		sep = ','
	}
	if result != "" {
		t.buf = append(t.buf, sep)
		t.buf = append(t.buf, `result="`...)
		t.buf = appendEscaped(t.buf, result, true)
		t.buf = append(t.buf, '"')
		sep = ','
	}
	if sep == ',' {
		t.buf = append(t.buf, '}')
	}
	t.buf = append(t.buf, ' ')
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

package metrics

import (
	"bufio"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keysync/keysync/sync/runner"
)

// DerivedExpiries is where the derived value metrics come from: the
// daemon's runner.Expiries.
type DerivedExpiries interface {
	Report() []runner.DerivedExpiry
}

// derivedCollector reads the derived SAS at each scrape: when each
// expires and when keysync renews it, by Vault path and field name
// (both from the config, so a bounded set, but one per account a
// [[discover]] block finds). Like the per-account families, it is
// written straight to a text scrape (writeText), and read only when the
// scrape asks for its families.
type derivedCollector struct {
	src            atomic.Pointer[DerivedExpiries]
	expiry, renewB *prometheus.Desc
	// expiryName, renewName are the families' names; help their HELP.
	expiryName, renewName string
	help                  map[string]string
}

func newDerivedCollector() *derivedCollector {
	c := &derivedCollector{help: map[string]string{}}
	desc := func(o prometheus.Opts) (*prometheus.Desc, string) {
		c.help[o.Name] = o.Help
		return prometheus.NewDesc(o.Name, o.Help, []string{"path", "name"}, nil), o.Name
	}
	c.expiry, c.expiryName = desc(prometheus.Opts{Name: "keysync_derived_expiry_timestamp_seconds",
		Help: "Unix time at which a derived SAS in Vault expires, by its path and field."})
	c.renewB, c.renewName = desc(prometheus.Opts{Name: "keysync_derived_renew_timestamp_seconds",
		Help: "Unix time from which keysync renews a derived SAS in Vault, by its path and field; a time long past means its renewal is failing."})
	return c
}

// writeText writes the two families in the text format, as Collect makes
// them (labels in name order), if asked for; the source is not read
// otherwise.
func (c *derivedCollector) writeText(w *bufio.Writer, wanted func(string) bool) {
	src := c.src.Load()
	if src == nil || !wanted(c.expiryName) && !wanted(c.renewName) {
		return
	}
	all := (*src).Report()
	if len(all) == 0 {
		return
	}
	t := textWriter{w: w, help: c.help, wanted: wanted}
	for _, f := range []struct {
		name string
		at   func(runner.DerivedExpiry) float64
	}{
		{c.expiryName, func(d runner.DerivedExpiry) float64 { return unixSeconds(d.Expires) }},
		{c.renewName, func(d runner.DerivedExpiry) float64 { return unixSeconds(d.RenewAt) }},
	} {
		if !wanted(f.name) {
			continue
		}
		t.header(f.name, "gauge")
		for _, d := range all {
			t.buf = append(t.buf[:0], f.name...)
			t.buf = append(t.buf, `{name="`...)
			t.buf = appendEscaped(t.buf, d.Name, true)
			t.buf = append(t.buf, `",path="`...)
			t.buf = appendEscaped(t.buf, d.Path, true)
			t.buf = append(t.buf, `"} `...)
			t.buf = appendFloat(t.buf, f.at(d))
			t.buf = append(t.buf, '\n')
			_, _ = t.w.Write(t.buf)
		}
	}
}

// Describe implements prometheus.Collector.
func (c *derivedCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.expiry
	ch <- c.renewB
}

// Collect implements prometheus.Collector.
func (c *derivedCollector) Collect(ch chan<- prometheus.Metric) {
	src := c.src.Load()
	if src == nil {
		return
	}
	for _, d := range (*src).Report() {
		ch <- prometheus.MustNewConstMetric(c.expiry, prometheus.GaugeValue, unixSeconds(d.Expires), d.Path, d.Name)
		ch <- prometheus.MustNewConstMetric(c.renewB, prometheus.GaugeValue, unixSeconds(d.RenewAt), d.Path, d.Name)
	}
}

// SetDerivedExpiries makes e the source of the derived value metrics.
func (m *Metrics) SetDerivedExpiries(e DerivedExpiries) { m.derived.src.Store(&e) }

package metrics

import (
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
// (both from the config, so a bounded set).
type derivedCollector struct {
	src            atomic.Pointer[DerivedExpiries]
	expiry, renewB *prometheus.Desc
}

func newDerivedCollector() *derivedCollector {
	desc := func(o prometheus.Opts) *prometheus.Desc {
		return prometheus.NewDesc(o.Name, o.Help, []string{"path", "name"}, nil)
	}
	return &derivedCollector{
		expiry: desc(prometheus.Opts{Name: "keysync_derived_expiry_timestamp_seconds",
			Help: "Unix time at which a derived SAS in Vault expires, by its path and field."}),
		renewB: desc(prometheus.Opts{Name: "keysync_derived_renew_timestamp_seconds",
			Help: "Unix time from which keysync renews a derived SAS in Vault, by its path and field; a time long past means its renewal is failing."}),
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

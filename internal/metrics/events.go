package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keysync/keysync/sync/runner"
)

// eventMetrics are the Event Grid webhook's: deliveries and events by
// schema and outcome (both from fixed sets the server names), and the time
// from an event to its key in Vault.
type eventMetrics struct {
	received *prometheus.CounterVec
	latency  prometheus.Histogram
}

// maxEventLatency clamps the event-to-write latency: an event time from a
// skewed clock, or one far in the past, must not stretch the histogram.
const maxEventLatency = time.Hour

func newEventMetrics() eventMetrics {
	return eventMetrics{
		received: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "keysync_events_total",
			Help: "Event Grid webhook deliveries and events by schema (eventgrid, cloudevents, unknown) and outcome: unauthorized, unverifiable, too_large, malformed, validation, options, busy, overloaded (per delivery); queued, coalesced, backoff, duplicate, irrelevant, unmanaged (per event)."},
			[]string{"schema", "outcome"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "keysync_event_to_write_seconds",
			Help:    "From a key-change event's time to the sync it queued writing the new key to Vault (clamped to 0..1h).",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600}}),
	}
}

func (e eventMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{e.received, e.latency}
}

// Event counts one delivery or event of the webhook.
func (m *Metrics) Event(schema, outcome string) {
	m.events.received.WithLabelValues(schema, outcome).Inc()
}

// Targeted records a finished targeted sync: when it wrote, the time from
// the event it answered.
func (m *Metrics) Targeted(_ string, since time.Time, res runner.Result, now time.Time) {
	if res.Err != nil || !res.Change.HasChanges() || since.IsZero() {
		return
	}
	d := min(max(now.Sub(since), 0), maxEventLatency)
	m.events.latency.Observe(d.Seconds())
}

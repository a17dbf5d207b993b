package metrics

import "github.com/prometheus/client_golang/prometheus"

// listenMetrics are the listen port's own bounds at work: connections
// refused or evicted, requests shed. None has a label: a per-client label
// would let whoever reaches the port grow the metrics without bound.
type listenMetrics struct {
	refused, evicted, shed prometheus.Counter
}

func newListenMetrics() listenMetrics {
	return listenMetrics{
		refused: prometheus.NewCounter(prometheus.CounterOpts{Name: "keysync_http_connections_refused_total",
			Help: "New connections to the listen port closed for want of a slot: none came free within a second, every one open serving a request or holding bytes not read yet, or too many waited already."}),
		evicted: prometheus.NewCounter(prometheus.CounterOpts{Name: "keysync_http_connections_evicted_total",
			Help: "Connections to the listen port closed to make room for a new one, having waited longest for a request's headers."}),
		shed: prometheus.NewCounter(prometheus.CounterOpts{Name: "keysync_http_requests_shed_total",
			Help: "Requests other than /healthz and /readyz answered 503 because the most allowed at once were being served."}),
	}
}

func (l listenMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{l.refused, l.evicted, l.shed}
}

// ConnRefused counts one new connection closed for want of a slot.
func (m *Metrics) ConnRefused() { m.listen.refused.Inc() }

// ConnEvicted counts one connection closed to make room for a new one.
func (m *Metrics) ConnEvicted() { m.listen.evicted.Inc() }

// RequestShed counts one request answered 503 for want of a handler.
func (m *Metrics) RequestShed() { m.listen.shed.Inc() }

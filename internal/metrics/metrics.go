// Package metrics holds keysync's Prometheus metrics. Every label value
// comes from a bounded set: configured account labels, fixed outcome names,
// HTTP status codes and fixed operation names; never error text, never a
// key.
package metrics

import (
	"runtime"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/keysync/keysync/sync/runner"
)

// Metrics is the registry and every metric in it.
type Metrics struct {
	reg      *prometheus.Registry
	accounts *accounts
	// accountReg holds the per-account and derived families: Handler
	// writes them itself in the text format.
	accountReg  *prometheus.Registry
	duration    prometheus.Histogram
	turns       prometheus.Histogram
	arm         *prometheus.CounterVec
	vault       *prometheus.CounterVec
	logins      *prometheus.CounterVec
	renewals    *prometheus.CounterVec
	tokens      *prometheus.CounterVec
	syncReqs    *prometheus.CounterVec
	vaultUp     prometheus.Gauge
	discovered  *prometheus.GaugeVec
	discoveries *prometheus.CounterVec
	events      eventMetrics
	listen      listenMetrics
	problems    atomic.Pointer[RotationProblems]
	derived     *derivedCollector
}

// RotationProblems is where the rotation problem metrics come from: the
// daemon's runner.Problems.
type RotationProblems interface {
	// Current counts the secrets whose latest sync found rotation
	// metadata it did not trust; Found counts the syncs that found any.
	Current() int
	Found() uint64
}

// New registers every metric, with the build info set.
func New(version string) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(), accountReg: prometheus.NewRegistry(),
		accounts: newAccounts(),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "keysync_sync_duration_seconds",
			Help: "How long one account sync took, retries within it included.", Buckets: prometheus.ExponentialBuckets(0.01, 2.5, 10)}),
		turns: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "keysync_scheduler_turn_seconds",
			Help:    "How long each turn of the scheduler's loop took, from the event that woke it (a due time, a finished sync, a trigger, a reload) to the end of its dispatch; every account's start waits while one runs.",
			Buckets: prometheus.ExponentialBuckets(1e-5, 4, 12)}), // 10 µs to 42 s: a reload of a million accounts is seconds
		arm: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "keysync_arm_requests_total",
			Help: "Requests to Azure Resource Manager by HTTP status (\"error\": no response)."}, []string{"code"}),
		vault: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "keysync_vault_requests_total",
			Help: "Requests to Vault by operation and HTTP status (\"error\": no response)."}, []string{"op", "code"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "keysync_vault_logins_total",
			Help: "Logins to Vault (or token reads, for method token) by method and result."}, []string{"method", "result"}),
		renewals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "keysync_vault_token_renewals_total",
			Help: "Renewals of keysync's Vault token by result."}, []string{"result"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "keysync_vault_token_events_total",
			Help: "Requests that found keysync's Vault token invalid (event=\"invalid\") and new tokens that replaced an invalid one (event=\"recovered\")."}, []string{"event"}),
		syncReqs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "keysync_sync_requests_total",
			Help: "POST /sync requests by result: started, coalesced, rate_limited, unauthorized, disabled."}, []string{"result"}),
		vaultUp: prometheus.NewGauge(prometheus.GaugeOpts{Name: "keysync_vault_up",
			Help: "1 when the last readiness check found Vault answering and accepting keysync's token, else 0."}),
		discovered: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "keysync_discovered_accounts",
			Help: "Accounts [[discover]] blocks found and keysync syncs, by type."}, []string{"type"}),
		discoveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "keysync_discovery_runs_total",
			Help: "Runs of each [[discover]] block by result: ok, failed, held (a drop above max_removed_fraction removed nothing)."}, []string{"block", "result"}),
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "keysync_build_info",
		Help: "keysync's version and Go version; always 1."}, []string{"version", "goversion"})
	build.WithLabelValues(version, runtime.Version()).Set(1)
	m.events = newEventMetrics()
	m.reg.MustRegister(m.rotationProblemMetrics()...)
	m.reg.MustRegister(m.events.collectors()...)
	m.derived = newDerivedCollector()
	m.accountReg.MustRegister(m.derived) // a text scrape writes it itself (serveText)
	m.listen = newListenMetrics()
	m.reg.MustRegister(m.listen.collectors()...)
	m.accountReg.MustRegister(m.accounts)
	m.reg.MustRegister(m.duration, m.turns, m.arm, m.vault, m.logins, m.renewals, m.tokens, m.syncReqs, m.vaultUp, m.discovered, m.discoveries, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// newAccounts makes the collector of the per-account metrics.
func newAccounts() *accounts {
	help := map[string]string{}
	desc := func(o prometheus.Opts, labels ...string) *prometheus.Desc {
		help[o.Name] = o.Help
		return prometheus.NewDesc(o.Name, o.Help, labels, nil)
	}
	as := &accounts{
		syncs: desc(prometheus.Opts{Name: "keysync_sync_total",
			Help: "Account syncs by outcome: create, update, unchanged, adopt, repair-metadata, mark, delete, pending, refused, failed."}, "account", "result"),
		lastSuccess: desc(prometheus.Opts{Name: "keysync_last_success_timestamp_seconds",
			Help: "Unix time of the account's last successful sync."}, "account"),
		backoff: desc(prometheus.Opts{Name: "keysync_account_backoff_seconds",
			Help: "Current retry delay of an account after a transient failure; 0 when healthy."}, "account"),
		skipped: desc(prometheus.Opts{Name: "keysync_ticks_skipped_total",
			Help: "Scheduled ticks skipped because the account's previous sync was still running."}, "account"),
		rotations: desc(prometheus.Opts{Name: "keysync_last_rotation_timestamp_seconds",
			Help: "Unix time of the account's last key rotation (regenerate and Vault write) by keysync."}, "account"),
	}
	as.totalDescs(desc)
	as.help, as.max = help, MaxAccountSeries
	for name := range help {
		as.names = append(as.names, name)
	}
	return as
}

// Synced records a finished sync; the per-account series come from the
// estate (SetEstate).
func (m *Metrics) Synced(_ string, res runner.Result, _ time.Time) {
	m.duration.Observe(res.Duration.Seconds())
}

// Turned records one turn of the scheduler's loop
// (scheduler.TurnObserver).
func (m *Metrics) Turned(d time.Duration) { m.turns.Observe(d.Seconds()) }

// rotationProblemMetrics read the rotation problems at each scrape: a
// gauge of the secrets whose latest sync found some (repaired at once, so
// mostly 0) and a counter of the syncs that found any, to alert on.
func (m *Metrics) rotationProblemMetrics() []prometheus.Collector {
	read := func(f func(RotationProblems) float64) func() float64 {
		return func() float64 {
			if p := m.problems.Load(); p != nil {
				return f(*p)
			}
			return 0
		}
	}
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "keysync_rotation_problems",
			Help: "Secrets whose latest sync found rotation metadata keysync did not trust (a time after the version it describes, a record that cannot be in flight), or that cannot rotate (a KV version 1 mount)."},
			read(func(p RotationProblems) float64 { return float64(p.Current()) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "keysync_rotation_problems_found_total",
			Help: "Syncs that found rotation metadata keysync did not trust; each was ignored and repaired. Someone other than keysync may be writing it."},
			read(func(p RotationProblems) float64 { return float64(p.Found()) })),
	}
}

// SetRotationProblems makes p the source of the rotation problem metrics.
func (m *Metrics) SetRotationProblems(p RotationProblems) { m.problems.Store(&p) }

// SetEstate makes e the source of the per-account series.
func (m *Metrics) SetEstate(e Estate) { m.accounts.estate.Store(&e) }

// ARMResponse counts one request to ARM.
func (m *Metrics) ARMResponse(code string) { m.arm.WithLabelValues(code).Inc() }

// VaultRequest counts one request to Vault.
func (m *Metrics) VaultRequest(op, code string) { m.vault.WithLabelValues(op, code).Inc() }

// VaultLogin counts one login.
func (m *Metrics) VaultLogin(method, result string) { m.logins.WithLabelValues(method, result).Inc() }

// VaultRenewal counts one token renewal.
func (m *Metrics) VaultRenewal(result string) { m.renewals.WithLabelValues(result).Inc() }

// VaultToken counts one event of keysync's Vault token: "invalid" or
// "recovered".
func (m *Metrics) VaultToken(event string) { m.tokens.WithLabelValues(event).Inc() }

// SyncRequest counts one POST /sync by result.
func (m *Metrics) SyncRequest(result string) { m.syncReqs.WithLabelValues(result).Inc() }

// VaultUp records the last readiness check of Vault.
func (m *Metrics) VaultUp(up bool) {
	v := 0.0
	if up {
		v = 1
	}
	m.vaultUp.Set(v)
}

// Discovered sets the number of discovered accounts of each type; types
// not in counts go to 0.
func (m *Metrics) Discovered(counts map[string]int) {
	m.discovered.Reset()
	for typ, n := range counts {
		m.discovered.WithLabelValues(typ).Set(float64(n))
	}
}

// DiscoveryRun counts one run of a [[discover]] block.
func (m *Metrics) DiscoveryRun(block, result string) {
	m.discoveries.WithLabelValues(block, result).Inc()
}

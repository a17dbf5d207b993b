// Package server holds what the long-running keysync process adds around
// the scheduler: the HTTP endpoints (/healthz, /readyz, /metrics, POST
// /sync, GET /status), their protection, the Vault readiness probe and
// systemd's notify protocol.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/keysync/keysync/sync/runner"
	"github.com/keysync/keysync/sync/scheduler"
)

// Scheduler is what the endpoints need of the scheduler.
type Scheduler interface {
	Alive(now time.Time) bool
	Overdue(now time.Time) []string
	// TriggerAll starts a full sync, or returns false when one is
	// pending or running already.
	TriggerAll() bool
	StatusAtMost(now time.Time, limit int) ([]scheduler.AccountStatus, int)
}

// Observer hears what the endpoints refuse and trigger; the metrics
// implement it.
type Observer interface {
	// SyncRequest counts a POST /sync by result: started, coalesced,
	// rate_limited, unauthorized, disabled.
	SyncRequest(result string)
	// ConnRefused counts a new connection closed because no slot came
	// free within admitWait, or too many waited for one already;
	// ConnEvicted one closed to make room, having waited on its client
	// (pool.go); RequestShed a request answered 503
	// because MaxHandlers were being served.
	ConnRefused()
	ConnEvicted()
	RequestShed()
}

// Server serves the daemon's endpoints.
type Server struct {
	Scheduler Scheduler
	Vault     *VaultProbe
	Metrics   http.Handler
	Logger    *slog.Logger
	Observer  Observer
	// PendingRotations lists paths whose rotated key is not in Vault yet.
	PendingRotations func() []string
	// RotationProblems lists, by path, the rotation metadata keysync did
	// not trust (runner.Problems).
	RotationProblems func() []runner.ProblemReport
	// DerivedExpiries, when set, lists the derived SAS in Vault and when
	// each expires, for GET /status.
	DerivedExpiries func() []runner.DerivedExpiry
	// Discovery, when set, says what the last discovery found.
	Discovery func() *DiscoveryStatus
	// Token protects POST /sync, GET /status and the details of /readyz;
	// nil turns the first two off (404) and keeps /readyz terse.
	Token *Token
	// SyncMinInterval is the least time between two accepted POST /sync.
	SyncMinInterval time.Duration
	// Limits bound the server; zero fields take DefaultLimits'.
	Limits Limits
	// Targets, when set, serves POST /sync?account=; Events, when set,
	// is the Event Grid webhook (events.go).
	Targets Targeter
	Events  *EventsHandler

	gate triggerGate
	srv  *http.Server
	pool *connPool
	// checking bounds the /readyz requests waiting for a Vault check.
	checking slots
}

// readyzWaiters is how many /readyz requests may wait for a Vault check
// at once; more get the last check's answer at once, so that a flood of
// /readyz while Vault is slow cannot hold every connection for the
// check's 2 s.
const readyzWaiters = 16

// Handler routes the endpoints, guarded (guard.go).
func (s *Server) Handler() http.Handler {
	s.gate.every = s.SyncMinInterval
	s.checking = make(slots, readyzWaiters)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", s.Metrics)
	mux.HandleFunc("POST /sync", s.protected("POST /sync", s.sync))
	mux.HandleFunc("GET /status", s.protected("GET /status", s.status))
	if s.Events != nil {
		s.Events.route(mux)
	}
	return guard(mux, s.limits().MaxHandlers, s.observer(), s.keepAlive)
}

// keepAlive reports whether r's connection may serve another request
// (pool.go); always, for a Handler not served by Start.
func (s *Server) keepAlive(r *http.Request) bool { return s.pool == nil || s.pool.keepAlive(r) }

// Start listens on addr and serves in the background.
func (s *Server) Start(addr string) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	lim := s.limits()
	pool := newConnPool(ln, lim.MaxConns, s.observer())
	pool.wait = lim.AdmitWait
	s.pool = pool
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: lim.ReadHeaderTimeout, ReadTimeout: lim.ReadTimeout,
		WriteTimeout: lim.WriteTimeout, IdleTimeout: lim.IdleTimeout, MaxHeaderBytes: lim.MaxHeaderBytes,
		ConnState:   pool.ConnState,
		ConnContext: pool.connContext,
		ErrorLog:    slog.NewLogLogger(s.Logger.Handler(), slog.LevelDebug),
	}
	go func() {
		if err := s.srv.Serve(pool); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.Logger.Error("http server stopped", "err", err)
		}
	}()
	return ln.Addr(), nil
}

// limits is s.Limits with DefaultLimits in its zero fields.
func (s *Server) limits() Limits {
	l, d := s.Limits, DefaultLimits
	l.ReadHeaderTimeout = cmpOr(l.ReadHeaderTimeout, d.ReadHeaderTimeout)
	l.ReadTimeout = cmpOr(l.ReadTimeout, d.ReadTimeout)
	l.WriteTimeout = cmpOr(l.WriteTimeout, d.WriteTimeout)
	l.IdleTimeout = cmpOr(l.IdleTimeout, d.IdleTimeout)
	l.MaxHeaderBytes = cmpOr(l.MaxHeaderBytes, d.MaxHeaderBytes)
	l.MaxConns = cmpOr(l.MaxConns, d.MaxConns)
	l.AdmitWait = cmpOr(l.AdmitWait, d.AdmitWait)
	l.MaxHandlers = cmpOr(l.MaxHandlers, max(1, min(d.MaxHandlers, l.MaxConns*3/4)))
	return l
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func (s *Server) observer() Observer {
	if s.Observer == nil {
		return nopObserver{}
	}
	return s.Observer
}

// Shutdown stops the server.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	return s.srv.Shutdown(ctx)
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	if !s.Scheduler.Alive(time.Now()) {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"alive": false})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"alive": true})
}

// readiness is /readyz's answer to a caller with the token; others get
// only Ready, since the rest names Vault and its errors.
type readiness struct {
	Ready   bool     `json:"ready"`
	Config  bool     `json:"config"`
	Vault   string   `json:"vault"`
	Overdue []string `json:"overdue"`
	// RotationPending names secrets whose key was regenerated in Azure
	// but is not in Vault yet.
	RotationPending []string `json:"rotation_pending"`
	// RotationProblems names secrets whose latest sync found rotation
	// metadata it did not trust. It does not make keysync unready: that
	// metadata is ignored and repaired, Vault holds the current keys, and
	// a principal that may write only metadata must not be able to take
	// keysync out of service.
	RotationProblems []string `json:"rotation_problems"`
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	rd := readiness{Config: true, Vault: "ok", Overdue: s.Scheduler.Overdue(now)}
	if rd.Overdue == nil {
		rd.Overdue = []string{}
	}
	slices.Sort(rd.Overdue)
	if err := s.vaultState(r.Context()); err != nil {
		rd.Vault = err.Error()
	}
	rd.RotationPending = []string{}
	if s.PendingRotations != nil {
		rd.RotationPending = append(rd.RotationPending, s.PendingRotations()...)
	}
	rd.RotationProblems = []string{}
	for _, r := range s.rotationProblems() {
		if r.Current {
			rd.RotationProblems = append(rd.RotationProblems, r.Path)
		}
	}
	rd.Ready = rd.Vault == "ok" && len(rd.Overdue) == 0 && len(rd.RotationPending) == 0
	status := http.StatusOK
	if !rd.Ready {
		status = http.StatusServiceUnavailable
	}
	if s.Token == nil || !s.Token.Match(r) {
		writeJSON(w, status, map[string]any{"ready": rd.Ready})
		return
	}
	writeJSON(w, status, rd)
}

func (s *Server) rotationProblems() []runner.ProblemReport {
	if s.RotationProblems == nil {
		return nil
	}
	return s.RotationProblems()
}

// vaultState is a fresh Vault check's answer, or the last check's while
// readyzWaiters requests wait for one.
func (s *Server) vaultState(ctx context.Context) error {
	if !s.checking.enter() {
		return s.Vault.Err()
	}
	defer s.checking.leave()
	return s.Vault.Fresh(ctx)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

type nopObserver struct{}

func (nopObserver) SyncRequest(string) {}
func (nopObserver) ConnRefused()       {}
func (nopObserver) ConnEvicted()       {}
func (nopObserver) RequestShed()       {}

// Package daemon holds what the long-running keysync process adds around
// the scheduler: the HTTP endpoints (/healthz, /readyz, /metrics, POST
// /sync), the Vault readiness probe and systemd's notify protocol.
package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"
)

// Scheduler is what the endpoints need of the scheduler.
type Scheduler interface {
	Alive(now time.Time) bool
	Overdue(now time.Time) []string
	TriggerAll()
}

// Server serves the daemon's endpoints.
type Server struct {
	Scheduler Scheduler
	Vault     *VaultProbe
	Metrics   http.Handler
	Logger    *slog.Logger
	// PendingRotations lists paths whose rotated key is not in Vault yet.
	PendingRotations func() []string

	srv *http.Server
}

// Handler routes the endpoints.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", s.Metrics)
	mux.HandleFunc("POST /sync", s.sync)
	return mux
}

// Start listens on addr and serves in the background.
func (s *Server) Start(addr string) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.Logger.Error("http server stopped", "err", err)
		}
	}()
	return ln.Addr(), nil
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

// readiness is /readyz's answer.
type readiness struct {
	Ready   bool     `json:"ready"`
	Config  bool     `json:"config"`
	Vault   string   `json:"vault"`
	Overdue []string `json:"overdue"`
	// RotationPending names secrets whose key was regenerated in Azure
	// but is not in Vault yet.
	RotationPending []string `json:"rotation_pending"`
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	now := time.Now()
	r := readiness{Config: true, Vault: "ok", Overdue: s.Scheduler.Overdue(now)}
	if r.Overdue == nil {
		r.Overdue = []string{}
	}
	slices.Sort(r.Overdue)
	if err := s.Vault.Err(); err != nil {
		r.Vault = err.Error()
	}
	r.RotationPending = []string{}
	if s.PendingRotations != nil {
		r.RotationPending = append(r.RotationPending, s.PendingRotations()...)
	}
	r.Ready = r.Vault == "ok" && len(r.Overdue) == 0 && len(r.RotationPending) == 0
	status := http.StatusOK
	if !r.Ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, r)
}

func (s *Server) sync(w http.ResponseWriter, _ *http.Request) {
	s.Scheduler.TriggerAll()
	writeJSON(w, http.StatusAccepted, map[string]any{"sync": "requested"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

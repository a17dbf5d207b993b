package server

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/keysync/keysync/sync/runner"
	"github.com/keysync/keysync/sync/scheduler"
)

// protected answers 404 when the API is off (no token file) and 401 to a
// caller without the token; only then does next run.
func (s *Server) protected(name string, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.Token == nil {
			s.countSync(r, "disabled")
			writeJSON(w, http.StatusNotFound, map[string]any{"error": name + " is off: set [api] token_file to enable it"})
			return
		}
		if !s.Token.Match(r) {
			s.countSync(r, "unauthorized")
			s.Logger.Debug("api request without a valid token", "endpoint", name, "remote", r.RemoteAddr)
			w.Header().Set("WWW-Authenticate", `Bearer realm="keysync"`)
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "unauthorized"})
			return
		}
		next(w, r)
	}
}

func (s *Server) countSync(r *http.Request, result string) {
	if r.Method == http.MethodPost {
		s.observer().SyncRequest(result)
	}
}

// sync triggers a full sync: at most one per SyncMinInterval, and none
// while one is pending or running. With ?account= it syncs that one
// account instead (events.go's targetSync).
func (s *Server) sync(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Has("account") {
		s.targetSync(w, r.URL.Query().Get("account"))
		return
	}
	if wait := s.gate.take(time.Now()); wait > 0 {
		s.observer().SyncRequest("rate_limited")
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"error": "a sync was requested less than sync_min_interval ago", "retry_after_seconds": math.Ceil(wait.Seconds())})
		return
	}
	if !s.Scheduler.TriggerAll() {
		s.observer().SyncRequest("coalesced")
		writeJSON(w, http.StatusAccepted, map[string]any{"sync": "coalesced", "detail": "a full sync is already pending or running; it covers this request"})
		return
	}
	s.observer().SyncRequest("started")
	s.Logger.Info("sync of every account requested over HTTP")
	writeJSON(w, http.StatusAccepted, map[string]any{"sync": "started"})
}

// MaxStatusAccounts is the most accounts GET /status lists (those in
// trouble first); AccountsTotal says how many there are.
const MaxStatusAccounts = 100_000

// StatusReply is GET /status's answer.
type StatusReply struct {
	Time     time.Time                 `json:"time"`
	Accounts []scheduler.AccountStatus `json:"accounts"`
	// AccountsTotal counts every account; Accounts lists at most
	// MaxStatusAccounts of them.
	AccountsTotal int              `json:"accounts_total"`
	Discovery     *DiscoveryStatus `json:"discovery,omitempty"`
	// Events counts the Event Grid webhook's deliveries and events by
	// outcome, when it is on.
	Events map[string]int64 `json:"events,omitempty"`
	// Derived lists the derived SAS in Vault: when each expires and when
	// keysync renews it.
	Derived []runner.DerivedExpiry `json:"derived,omitempty"`
}

// DiscoveryStatus is what the last run of the [[discover]] blocks found.
type DiscoveryStatus struct {
	At       time.Time `json:"at"`
	Accounts int       `json:"accounts"`
	Added    int       `json:"added"`
	Removed  int       `json:"removed"`
	// Failed names each block whose query failed, with why.
	Failed map[string]string `json:"failed,omitempty"`
	// Conflicts are paths or resources two blocks claim.
	Conflicts []string `json:"conflicts,omitempty"`
	// Held says why nothing was removed, when something would have been.
	Held string `json:"held,omitempty"`
}

func (s *Server) status(w http.ResponseWriter, _ *http.Request) {
	now := time.Now()
	accounts, total := s.Scheduler.StatusAtMost(now, MaxStatusAccounts)
	pending := map[string]bool{}
	if s.PendingRotations != nil {
		for _, p := range s.PendingRotations() {
			pending[p] = true
		}
	}
	problems := map[string]runner.ProblemReport{}
	for _, r := range s.rotationProblems() {
		problems[r.Path] = r
	}
	for i := range accounts {
		accounts[i].Rotation.Pending = pending[accounts[i].Path]
		if r, ok := problems[accounts[i].Path]; ok {
			accounts[i].Rotation.Problems, accounts[i].Rotation.ProblemsAt, accounts[i].Rotation.ProblemsCurrent = r.Problems, r.At.UTC(), r.Current
		}
	}
	reply := StatusReply{Time: now.UTC(), Accounts: accounts, AccountsTotal: total}
	if s.Discovery != nil {
		reply.Discovery = s.Discovery()
	}
	if s.Events != nil {
		reply.Events = s.Events.Counts()
	}
	if s.DerivedExpiries != nil {
		reply.Derived = s.DerivedExpiries()
	}
	writeJSON(w, http.StatusOK, reply)
}

// triggerGate lets one trigger through per interval.
type triggerGate struct {
	every time.Duration
	mu    sync.Mutex
	last  time.Time
}

// take returns 0 and records now when a trigger may go, else how long
// until one may.
func (g *triggerGate) take(now time.Time) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.last.IsZero() {
		if wait := g.last.Add(g.every).Sub(now); wait > 0 {
			return wait
		}
	}
	g.last = now
	return 0
}

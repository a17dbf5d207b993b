package scheduler

import (
	"cmp"
	"slices"
	"time"

	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/runner"
)

// fullStep is where an account stands in a requested full sync.
type fullStep int

const (
	fullOwed    fullStep = iota + 1 // marked, not yet dispatched
	fullRunning                     // its forced sync is in flight
)

// lastSync is what Status remembers of an account's last finished sync.
type lastSync struct {
	at           time.Time
	outcome      string
	code         string
	lastRotation time.Time
	// failures counts failed syncs since the last success, permanent
	// ones too (the state's count is of transient ones, for backoff).
	failures int
}

// AccountStatus is one account as GET /status shows it. It holds no key
// and nothing derived from one.
type AccountStatus struct {
	Account        string `json:"account"`
	Path           string `json:"path"`
	SubscriptionID string `json:"subscription_id"`
	ResourceGroup  string `json:"resource_group"`
	Name           string `json:"name"`
	Type           string `json:"type"`
	Running        bool   `json:"running"`
	// LastResult is the last sync's outcome (create, update, unchanged,
	// adopt, repair-metadata, refused, failed); empty before the first.
	LastResult  string    `json:"last_result"`
	LastRun     time.Time `json:"last_run,omitzero"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	// NextRun is when the account syncs next, as things stand now.
	NextRun time.Time `json:"next_run,omitzero"`
	// ConsecutiveFailures counts failed syncs since the last success.
	ConsecutiveFailures int `json:"consecutive_failures"`
	// ErrorCode is the last failure's code (ARM's, or Refused, or Error);
	// empty after a success.
	ErrorCode string         `json:"error_code,omitempty"`
	Rotation  RotationStatus `json:"rotation"`
}

// RotationStatus is an account's key rotation as GET /status shows it.
type RotationStatus struct {
	Enabled      bool      `json:"enabled"`
	Every        string    `json:"every,omitempty"`
	LastRotation time.Time `json:"last_rotation,omitzero"`
	// Pending is set by the daemon: a regenerated key is not in Vault yet.
	Pending bool `json:"pending"`
}

// maxCodeLen bounds an error code taken from a server's answer.
const maxCodeLen = 64

// record remembers a finished sync for Status and settles the full sync
// it may have been part of; the loop calls it before settle.
func (s *Scheduler) record(f finished, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.full[f.st] == fullRunning {
		delete(s.full, f.st)
		s.fullDone()
	}
	if s.accounts[f.st.key()] != f.st {
		return
	}
	prev := s.last[f.st]
	ls := lastSync{at: now, outcome: runner.Outcome(f.res), lastRotation: prev.lastRotation}
	if f.res.Err != nil {
		ls.code, ls.failures = cleanCode(errorCode(f.res.Err)), prev.failures+1
	} else if f.res.Change.Rotation.Regenerate != "" {
		ls.lastRotation = now
	}
	s.last[f.st] = ls
}

// fullDone clears fullActive once no account owes the full sync; s.mu is
// held.
func (s *Scheduler) fullDone() {
	if len(s.full) == 0 {
		s.fullActive.Store(false)
	}
}

// Status lists every account's state, sorted by label.
func (s *Scheduler) Status(now time.Time) []AccountStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]AccountStatus, 0, len(s.accounts))
	for _, st := range s.accounts {
		out = append(out, s.statusOf(st))
	}
	slices.SortFunc(out, func(a, b AccountStatus) int { return cmp.Compare(a.Account, b.Account) })
	return out
}

// statusOf is one account's status; s.mu is held.
func (s *Scheduler) statusOf(st *state) AccountStatus {
	a := st.Job.Account
	last := s.last[st]
	as := AccountStatus{
		Account: st.Label, Path: st.Job.Path, SubscriptionID: a.SubscriptionID, ResourceGroup: a.ResourceGroup,
		Name: a.Name, Type: cmp.Or(a.Type, sources.DefaultType), Running: st.running,
		LastResult: last.outcome, LastRun: last.at, LastSuccess: st.lastSuccess,
		NextRun: st.due(s.paused[sub(st)]), ConsecutiveFailures: last.failures, ErrorCode: last.code,
		Rotation: RotationStatus{Enabled: st.Job.Rotate != nil, LastRotation: last.lastRotation},
	}
	if st.running {
		as.NextRun = st.nextTick
	}
	if st.Job.Rotate != nil {
		as.Rotation.Every = st.Job.Rotate.Every.String()
	}
	return as
}

// cleanCode keeps an error code printable and short: it comes from a
// server's answer.
func cleanCode(code string) string {
	b := []byte(code)
	for i, c := range b {
		if c < 0x21 || c > 0x7e {
			b[i] = '_'
		}
	}
	return string(b[:min(len(b), maxCodeLen)])
}

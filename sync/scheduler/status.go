package scheduler

import (
	"cmp"
	"maps"
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
	at, lastRotation stamp
	outcome          string
	code             string
	// failures counts failed syncs since the last success, permanent
	// ones too (the state's count is of transient ones, for backoff).
	failures int32
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
	// adopt, repair-metadata, pending, refused, failed); empty before the
	// first.
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
	// Problems, set by the daemon, is the rotation metadata the last sync
	// that found any did not trust (ignored, and repaired by its write),
	// and ProblemsAt when; ProblemsCurrent is true while the latest sync
	// still finds them.
	Problems        []string  `json:"problems,omitempty"`
	ProblemsAt      time.Time `json:"problems_at,omitzero"`
	ProblemsCurrent bool      `json:"problems_current,omitempty"`
}

// maxCodeLen bounds an error code taken from a server's answer.
const maxCodeLen = 64

// record is the account's last finished sync after this one, for
// Status; the loop calls it.
func record(st *state, res runner.Result, now time.Time) lastSync {
	prev := lastOf(st)
	ls := lastSync{at: stampOf(now), outcome: runner.Outcome(res), lastRotation: prev.lastRotation}
	if res.Err != nil {
		ls.code, ls.failures = cleanCode(errorCode(res.Err)), prev.failures+1
	} else if res.Change.Rotation.Regenerate != "" || res.Change.Rotation.Completed != "" {
		ls.lastRotation = stampOf(now)
	}
	return ls
}

// lastOf is the account's last finished sync as last published: the
// published view is the one place it is kept.
func lastOf(st *state) lastSync {
	if v := st.view.Load(); v != nil {
		return v.lastSync()
	}
	return lastSync{}
}

// fullDone clears fullActive once no account owes the full sync, and
// lets the emptied map go: a map keeps the room its largest size took,
// one entry per account, until the next full sync; the loop calls it.
func (s *Scheduler) fullDone() {
	if len(s.full) == 0 {
		s.fullActive.Store(false)
		s.full = map[*state]fullStep{}
	}
}

// view is an account's state as last published, for Status: the few
// fields that change, beside the account, which never does (a reload
// gives a new one). nextRun leaves out a subscription pause, which Status
// adds from its own snapshot, so that a pause need not republish every
// account of the subscription. Status builds the AccountStatus from it,
// so an estate of 100,000 accounts does not hold one each between calls.
// The last sync's fields are held flat, not as a lastSync, so that the
// view stays small (TestPackedSizes).
type view struct {
	acct                 *held
	at, lastRotation     stamp
	lastSuccess, nextRun stamp
	code                 string
	failures             int32
	// outcome is 1 + the index in runner.Outcomes of the last sync's
	// outcome, 0 for none: a byte, not a string, keeps a view in 64 bytes.
	outcome uint8
	running bool
}

// lastSync is the account's last finished sync as the view holds it.
func (v *view) lastSync() lastSync {
	ls := lastSync{at: v.at, lastRotation: v.lastRotation, code: v.code, failures: v.failures}
	if v.outcome > 0 {
		ls.outcome = runner.Outcomes[v.outcome-1]
	}
	return ls
}

// status is the view as GET /status shows it, without a pause.
func (v *view) status() AccountStatus {
	j, last := v.acct.Shared(), v.lastSync()
	a := j.Account
	as := AccountStatus{
		Account: v.acct.Label(), Path: v.acct.Path(), SubscriptionID: a.SubscriptionID, ResourceGroup: a.ResourceGroup,
		Name: v.acct.Name(), Type: cmp.Or(a.Type, sources.DefaultType), Running: v.running,
		LastResult: last.outcome, LastRun: last.at.time(), LastSuccess: v.lastSuccess.time(),
		NextRun: v.nextRun.time(), ConsecutiveFailures: int(last.failures), ErrorCode: last.code,
		Rotation: RotationStatus{Enabled: j.Rotate != nil, LastRotation: last.lastRotation.time()},
	}
	if r := j.Rotate; r != nil {
		as.Rotation.Every = r.Every.String()
	}
	return as
}

// Status lists every account's state, sorted by label. It reads the
// snapshots the loop publishes and never waits for the loop.
func (s *Scheduler) Status(time.Time) []AccountStatus {
	list, pauses := *s.listing.Load(), *s.pauses.Load()
	out := make([]AccountStatus, 0, len(list))
	for _, st := range list {
		out = append(out, st.view.Load().statusPaused(pauses))
	}
	return out
}

// statusPaused is the view as GET /status shows it, a subscription's
// pause included.
func (v *view) statusPaused(pauses map[string]time.Time) AccountStatus {
	as := v.status()
	if !as.Running {
		as.NextRun = later(as.NextRun, pauses[subOf(v.acct)])
	}
	return as
}

// StatusAtMost is Status for at most limit accounts, and how many there
// are: first those in trouble (a failure streak, or a last sync that
// failed, was refused or left a rotation pending), then the others, each
// part by label. Status of a million accounts would be several hundred
// megabytes made for one answer.
func (s *Scheduler) StatusAtMost(_ time.Time, limit int) ([]AccountStatus, int) {
	list, pauses := *s.listing.Load(), *s.pauses.Load()
	views := make([]*view, len(list))
	for i, st := range list {
		views[i] = st.view.Load() // once: a view that changes between the passes is listed once
	}
	out := make([]AccountStatus, 0, min(max(limit, 0), len(list)))
	for _, trouble := range []bool{true, false} {
		for _, v := range views {
			if len(out) >= limit {
				return out, len(list)
			}
			if v.inTrouble() == trouble {
				out = append(out, v.statusPaused(pauses))
			}
		}
	}
	return out, len(list)
}

// inTrouble reports whether the account is failing, or its last sync
// ended in failed, refused or pending.
func (v *view) inTrouble() bool {
	if v.failures > 0 {
		return true
	}
	switch v.lastSync().outcome {
	case "failed", "refused", "pending":
		return true
	}
	return false
}

// publishStatus makes st's current state what Status shows; the loop calls it.
func (s *Scheduler) publishStatus(st *state) { s.publishWith(st, lastOf(st)) }

// publishWith publishes st's state with last as its last finished sync;
// the loop calls it.
func (s *Scheduler) publishWith(st *state, last lastSync) {
	v := &view{acct: st.held, at: last.at, lastRotation: last.lastRotation, outcome: uint8(runner.OutcomeIndex(last.outcome) + 1), code: last.code, //nolint:gosec // G115: an index of Outcomes, which has ten
		failures: last.failures, lastSuccess: stampOf(st.lastSuccess()), nextRun: stampOf(st.due(time.Time{})), running: st.running}
	if st.running {
		v.nextRun = st.nextTick
	}
	st.view.Store(v)
}

// publishListing publishes the list of accounts, sorted by label (then
// path), for Status; the loop calls it.
func (s *Scheduler) publishListing() {
	list := slices.Clone(s.accounts)
	slices.SortFunc(list, func(a, b *state) int {
		return cmp.Or(cmp.Compare(a.Label(), b.Label()), cmp.Compare(a.Path(), b.Path()))
	})
	s.listing.Store(&list)
}

// publishPauses publishes a copy of the subscription pauses for Status;
// the loop calls it. Pauses change seldom: on a throttled subscription.
func (s *Scheduler) publishPauses() {
	p := maps.Clone(s.paused)
	s.pauses.Store(&p)
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

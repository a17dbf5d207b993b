package runner

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/keysync/keysync/sync/account"
	"github.com/keysync/keysync/sync/derive/spec"
)

// Expiries remembers, for each derived SAS that Vault holds, when it
// expires and when keysync renews it, as of the last sync that wrote or
// kept it: the daemon reports them in /status and the metrics, so that a
// token whose renewal is overdue (Vault unwritable, the account failing)
// is seen before it expires. The daemon keeps one across reloads.
type Expiries struct {
	mu sync.Mutex
	m  map[expiryKey]DerivedExpiry
}

type expiryKey struct{ path, name string }

// DerivedExpiry is one derived SAS in Vault.
type DerivedExpiry struct {
	Path    string    `json:"path"`
	Name    string    `json:"name"`
	Expires time.Time `json:"expires"`
	RenewAt time.Time `json:"renew_at"`
}

// NewExpiries returns an empty Expiries.
func NewExpiries() *Expiries { return &Expiries{m: map[expiryKey]DerivedExpiry{}} }

// note records what Vault now holds at path for specs, from the derived
// metadata of the version there (meta).
func (e *Expiries) note(job account.Job, path string, specs []spec.Spec, meta map[string]string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range specs {
		exp, err := time.Parse(time.RFC3339, meta[MetaDerivedPrefix+s.Name+metaDerivedExpires])
		if !s.Expires() || err != nil {
			continue
		}
		// Copies: the path may be a piece of a reload's packed string.
		e.m[expiryKey{strings.Clone(path), strings.Clone(s.Name)}] = DerivedExpiry{Path: strings.Clone(path), Name: strings.Clone(s.Name),
			Expires: exp, RenewAt: spec.RenewAt(s, job.Account.ResourceID(), exp)}
	}
}

// Report lists the SAS by path and name.
func (e *Expiries) Report() []DerivedExpiry {
	e.mu.Lock()
	out := make([]DerivedExpiry, 0, len(e.m))
	for _, v := range e.m {
		out = append(out, v)
	}
	e.mu.Unlock()
	slices.SortFunc(out, func(a, b DerivedExpiry) int {
		return cmp.Or(strings.Compare(a.Path, b.Path), strings.Compare(a.Name, b.Name))
	})
	return out
}

// noteWritten records the expiries at path after a sync that left ch
// there; nothing for a dry run, which wrote nothing.
func (r *Runner) noteWritten(job account.Job, path string, specs []spec.Spec, held, written map[string]string) {
	if r.DryRun || len(specs) == 0 {
		return
	}
	meta := held
	if written != nil {
		meta = written
	}
	r.Expiries.note(job, path, specs, meta)
}

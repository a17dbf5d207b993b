package discovery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"

	"github.com/keysync/keysync/sinks"
	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/inventory"
	"github.com/keysync/keysync/sync/plan"
	"github.com/keysync/keysync/sync/runner"
)

// Store is what Recall reads Vault with: the secrets under a prefix, and
// each one's metadata.
type Store interface {
	sinks.Lister
	Read(ctx context.Context, path string) (sinks.State, error)
}

// Recall rebuilds the State of an earlier run that this process does not
// remember (a --run-now, or the daemon's first run after a start), from
// what Vault holds: for each block that marks or deletes, the secrets
// under its path template's fixed prefix that carry keysync's mark and
// discovered-by = the block. out is this run's outcome: a secret it found
// again is not read, and counts as found before, so that
// max_removed_fraction weighs the removals against the whole estate. At
// most limit secrets are listed per block; more is an error, and the caller
// then removes nothing. Accounts owns says are another shard's are left
// out (nil owns all).
func Recall(ctx context.Context, st Store, blocks []Block, out Outcome, limit int, owns func(resourceID string) bool) (*State, error) {
	prev := &State{jobs: map[entryID]found{}}
	for _, b := range blocks {
		if b.OnRemoved == "" || b.OnRemoved == plan.RemoveKeep {
			continue
		}
		if err := prev.recall(ctx, st, b, out, limit, owns); err != nil {
			return nil, fmt.Errorf("recalling what %s found before: %w", b.Name, err)
		}
	}
	return prev, nil
}

func (s *State) recall(ctx context.Context, st Store, b Block, out Outcome, limit int, owns func(string) bool) error {
	paths, err := st.List(ctx, fixedPrefix(b.Path), limit)
	if err != nil {
		return err
	}
	again, pol := map[string]*runner.Job{}, policyOf(b)
	origin := &runner.Origin{Block: b.Name, Scope: b.Scope()}
	var pk runner.Packer
	for i := range out.Jobs {
		if out.Jobs[i].Block == b.Name {
			again[out.Jobs[i].Job.Path] = &out.Jobs[i].Job
		}
	}
	for _, p := range paths {
		j, ok := again[p]
		if !ok {
			if j, err = gone(ctx, st, b, origin, p); err != nil {
				return err
			}
			if j == nil || owns != nil && !owns(j.Account.ResourceID()) {
				continue // another's secret, another block's, or another shard's
			}
		}
		packed := pk.Pack(*j)
		s.jobs[id(inventory.Entry{Key: j.Account.Key(), Path: j.Path, Origin: b.Name})] = found{job: &packed, policy: pol}
	}
	return nil
}

// gone reads the secret at p and returns the job of its account when
// keysync wrote it for block b; nil for any other secret.
func gone(ctx context.Context, st Store, b Block, origin *runner.Origin, p string) (*runner.Job, error) {
	cur, err := st.Read(ctx, p)
	if err != nil {
		return nil, err
	}
	m := cur.Metadata
	if m[plan.MetaManagedBy] != plan.ManagedByValue || m[plan.MetaDiscoveredBy] != b.Name || m[plan.MetaDiscoveryScope] != b.Scope() {
		return nil, nil
	}
	a, ok := account(m[plan.MetaResourceID])
	if !ok {
		return nil, nil // not an id keysync could have written: not ours to remove
	}
	j := b.Job
	j.Account, j.Path, j.Origin = a, p, origin
	return &j, nil
}

// Scope fingerprints what the block searches and where it writes: its
// selector and path template, as 16 hex digits of their SHA-256.
func (b Block) Scope() string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%#v\x00%s", b.Selector, b.Path)))
	return hex.EncodeToString(sum[:8])
}

// account reads the resource id keysync recorded; false for one it could
// not have written.
func account(id string) (sources.Account, bool) {
	a, err := sources.ParseResourceID(id)
	return a, err == nil
}

// fixedPrefix is the part of a path template before its first variable,
// up to the last '/': every path the template makes is under it.
func fixedPrefix(tmpl string) string {
	if i := strings.IndexByte(tmpl, '{'); i >= 0 {
		tmpl = tmpl[:i]
	}
	if i := strings.LastIndexByte(tmpl, '/'); i >= 0 {
		return strings.Trim(tmpl[:i], "/")
	}
	return ""
}

// Memo is a Finder that asks its finder once per selector and engine and
// answers again from memory, so that a run decided a second time (after a
// Recall) costs Azure nothing more.
type Memo struct {
	f   Finder
	mu  sync.Mutex
	got map[string]memoAnswer
}

type memoAnswer struct {
	found   []sources.Found
	skipped []sources.Skipped
	err     error
}

// NewMemo wraps f.
func NewMemo(f Finder) *Memo { return &Memo{f: f, got: map[string]memoAnswer{}} }

// Discover implements Finder.
func (m *Memo) Discover(ctx context.Context, sel sources.Selector, engine string) ([]sources.Found, []sources.Skipped, error) {
	k := fmt.Sprintf("%#v|%s", sel, engine)
	m.mu.Lock()
	a, ok := m.got[k]
	m.mu.Unlock()
	if ok {
		return a.found, a.skipped, a.err
	}
	found, skipped, err := m.f.Discover(ctx, sel, engine)
	m.mu.Lock()
	m.got[k] = memoAnswer{found, skipped, err}
	m.mu.Unlock()
	return found, skipped, err
}

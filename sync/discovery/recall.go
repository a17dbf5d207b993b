package discovery

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/keysync/keysync/sinks"
	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/account"
	"github.com/keysync/keysync/sync/plan"
)

// Store is what Recall reads Vault with: the secrets under a prefix, and
// each one's metadata.
type Store interface {
	sinks.Lister
	Read(ctx context.Context, path string) (sinks.State, error)
}

// Recall rebuilds the State of an earlier run that this process does not
// remember (a --run-now, or the daemon's first run after a start), from
// what Vault holds: for each block, the secrets under its path template's
// fixed prefix that carry keysync's mark and discovered-by = the block.
// out is this run's outcome: a secret it found again is not read, and
// counts as found before, so that the run adds only what is new and
// max_removed_fraction weighs the removals against the whole estate. A
// block that keeps what it no longer finds is recalled too: its removals
// change nothing in Vault, but without them every account it found would
// count as added at every run. At most limit secrets are listed per block;
// more is an error, and the caller then removes nothing. Accounts owns
// says are another shard's are left out (nil owns all).
func Recall(ctx context.Context, st Store, blocks []Block, out Outcome, limit int, owns func(resourceID string) bool) (*State, error) {
	prev := &State{jobs: map[account.ID]found{}}
	for _, b := range blocks {
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
	again, pol := map[string]*account.Job{}, policyOf(b)
	pol.recalled = true
	origin := &account.Origin{Block: b.Name, Scope: b.Scope()}
	for i := range out.Jobs {
		if out.Jobs[i].Block == b.Name {
			again[out.Jobs[i].Job.Path] = out.Jobs[i].Job
		}
	}
	for _, p := range paths {
		j, ok := again[p]
		if !ok {
			var why string
			if j, why, err = gone(ctx, st, b, origin, p); err != nil {
				return err
			}
			if why != "" {
				s.leave(Left{Block: b.Name, Path: p, Reason: why})
			}
			if j == nil || owns != nil && !owns(j.Account.ResourceID()) {
				continue // another's secret, another block's, or another shard's
			}
		}
		s.jobs[j.Key().ID()] = found{job: j, policy: pol}
	}
	return nil
}

// gone reads the secret at p and returns the job of its account when
// keysync wrote it for block b; nil for any other secret, and why, when
// it carries b's marks, b could not have written it there.
func gone(ctx context.Context, st Store, b Block, origin *account.Origin, p string) (*account.Job, string, error) {
	cur, err := st.Read(ctx, p)
	if err != nil {
		return nil, "", err
	}
	m := cur.Metadata
	if m[plan.MetaManagedBy] != plan.ManagedByValue || m[plan.MetaDiscoveredBy] != b.Name || m[plan.MetaDiscoveryScope] != b.Scope() {
		return nil, "", nil
	}
	// The marks are custom_metadata, which whoever may write a secret's
	// metadata can copy: the account they name must be one b finds, at
	// the path b gives it.
	a, why := b.claim(m[plan.MetaResourceID], p)
	if why != "" {
		return nil, why, nil
	}
	// The data mark, which a metadata writer cannot forge, outranks the
	// metadata's resource-id: a secret keysync wrote for another account
	// is not this one's.
	if mark, ok := cur.Data.Field(plan.FieldOwner); cur.Data.Has(plan.FieldOwner) && (!ok || !strings.EqualFold(mark.Reveal(), a.ResourceID())) {
		return nil, "its data names another resource than its resource-id", nil
	}
	j := b.Job
	j.Account, j.Path, j.Origin = a, p, origin
	return &j, "", nil
}

// claim is the account of resourceID when b could have written its secret
// at p: of b's type and rule, in b's subscriptions and resource groups
// when b names them (ARM compares those without case), and p exactly the
// path b's template makes for it. Else it says why not; the reasons quote
// nothing of the metadata.
func (b Block) claim(resourceID, p string) (sources.Account, string) {
	a, why := b.claimAccount(resourceID)
	if why != "" {
		return a, why
	}
	if want, err := sources.ExpandPath(b.Path, a); err != nil || p != want {
		return a, "its path is not the one the block's template makes for its resource-id"
	}
	return a, ""
}

// claimAccount is the account of resourceID when b could have found it:
// of b's type and rule, in b's subscriptions and resource groups when b
// names them (ARM compares those without case); else it says why not.
func (b Block) claimAccount(resourceID string) (sources.Account, string) {
	a, err := sources.ParseResourceID(resourceID)
	if err != nil {
		return a, "its resource-id is not one keysync could have written"
	}
	sel := b.Selector
	switch {
	case a.Type != strings.ToLower(cmp.Or(sel.Type, sources.DefaultType)):
		return a, "its resource-id names a resource of another type than the block's"
	case len(sel.Subscriptions) > 0 && !containsFold(sel.Subscriptions, a.SubscriptionID):
		return a, "its resource-id names a subscription the block does not search"
	case len(sel.ResourceGroups) > 0 && !containsFold(sel.ResourceGroups, a.ResourceGroup):
		return a, "its resource-id names a resource group the block does not search"
	case a.Spec().Child != "" && !strings.EqualFold(a.Rule, b.Job.Account.Rule):
		return a, "its resource-id names another authorization rule than the block's"
	}
	a.Rule, a.APIVersion = b.Job.Account.Rule, b.Job.Account.APIVersion
	return a, ""
}

func containsFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(v string) bool { return strings.EqualFold(v, s) })
}

// Left is a secret a Recall read and left out although it carries a
// block's marks (managed-by, discovered-by, discovery-scope), and why: a
// mark copied by someone who may write metadata, or an account no longer
// in the block's reach.
type Left struct {
	Block, Path, Reason string
}

// maxLeft bounds the secrets a State lists as left; more are counted.
const maxLeft = 100

// leave records l, or counts it past maxLeft.
func (s *State) leave(l Left) {
	if len(s.left) < maxLeft {
		s.left = append(s.left, l)
		return
	}
	s.moreLeft++
}

// Scope fingerprints what the block searches and where it writes: its
// selector and path template, as 16 hex digits of their SHA-256.
func (b Block) Scope() string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%#v\x00%s", b.Selector, b.Path)))
	return hex.EncodeToString(sum[:8])
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

// Memo spares a run decided a second time (after a Recall) Azure's
// answer and the jobs made of it: Run asks it for a block's jobs, which
// it makes once of the finder's answer and keeps (not the answer), and a
// second Run reuses them (at 100,000 accounts the answer and the jobs
// made of it, held both, and made twice, were much of a start-up's
// peak). A Memo serves one discovery: the blocks and Options of its
// Runs must be the same.
type Memo struct {
	f    Finder
	mu   sync.Mutex
	jobs map[string]memoJobs
}

type memoJobs struct {
	jobs    []account.Job
	skipped []sources.Skipped
	err     error
}

// NewMemo wraps f.
func NewMemo(f Finder) *Memo { return &Memo{f: f, jobs: map[string]memoJobs{}} }

// Discover implements Finder: it asks f, every time. Run does not call
// it: it asks blockJobs.
func (m *Memo) Discover(ctx context.Context, sel sources.Selector, engine string) ([]sources.Found, []sources.Skipped, error) {
	return m.f.Discover(ctx, sel, engine)
}

// blockJobs is b.jobs of the finder's answer, made once. The jobs are
// shared by the Runs that ask: no one changes them.
func (m *Memo) blockJobs(ctx context.Context, b Block, o Options) ([]account.Job, []sources.Skipped, error) {
	k := fmt.Sprintf("%s|%s|%s", b.Name, b.Scope(), b.Engine)
	m.mu.Lock()
	a, ok := m.jobs[k]
	m.mu.Unlock()
	if ok {
		return a.jobs, slices.Clip(a.skipped), a.err
	}
	jobs, skipped, err := b.jobs(ctx, m.f, o)
	m.mu.Lock()
	m.jobs[k] = memoJobs{jobs, skipped, err}
	m.mu.Unlock()
	return jobs, slices.Clip(skipped), err
}

// Package discovery runs [[discover]] blocks: it asks a finder for the
// resources each block selects, turns what it finds into jobs, and lets
// package inventory decide which to sync and which are gone. A run is
// given what the last found (a State: in the daemon, the discovered
// accounts it schedules; else recalled from Vault), so that it can tell a
// removed account from one it never had.
package discovery

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/account"
	"github.com/keysync/keysync/sync/derive/spec"
	"github.com/keysync/keysync/sync/inventory"
	"github.com/keysync/keysync/sync/plan"
)

// Finder finds the resources a selector names (sources/azure.Source),
// and the rows of its answer it skipped.
type Finder interface {
	Discover(ctx context.Context, sel sources.Selector, engine string) ([]sources.Found, []sources.Skipped, error)
}

// Block is one [[discover]] block.
type Block struct {
	// Name identifies the block in logs, metrics and conflicts.
	Name     string
	Selector sources.Selector
	// Engine is "resource-graph" (the default) or "arm-list".
	Engine string
	// Path is the path template (sources.ExpandPath).
	Path string
	// Job holds the settings every found account gets: Adopt, Fields,
	// Rotate, APIVersion, and Account.Rule for types with a rule.
	Job account.Job
	// OnRemoved is plan.RemoveKeep, RemoveMark or RemoveDelete.
	OnRemoved string
	// MaxRemovedFraction, when set, bounds the block's own removals in
	// place of Options.MaxRemovedFraction.
	MaxRemovedFraction *float64
}

// Options bound a discovery and check what it makes.
type Options struct {
	// MaxRemovedFraction: a block, or all together, that would lose more
	// of its high-water mark within Window removes nothing
	// (inventory.Input). Now is the run's time; Ledger the last run's
	// Outcome.Decision.Ledger, where the caller remembers one.
	MaxRemovedFraction float64
	Now                time.Time
	Window             time.Duration
	Ledger             inventory.Ledger
	// CheckPath refuses a path the sink would refuse; nil accepts all.
	CheckPath func(path string) error
	// Owns says whether this process syncs the resource of that id (its
	// shard); nil owns all. Others are neither found nor removed here.
	Owns func(resourceID string) bool
}

// State is what the last run found: each discovered account's job and
// the policy of the block that found it, by a hash of its key and path.
// The inventory entries of the accounts are made anew from the jobs.
type State struct {
	jobs map[account.ID]found
	// left are the secrets the Recall that made this State left out,
	// at most maxLeft; moreLeft counts the rest.
	left     []Left
	moreLeft int
	// marks holds, for recalled secrets that carry the mark of an earlier
	// removal, when it was made (zero: a mark that could not be read).
	marks map[account.ID]time.Time
}

// StateOf is the State of the jobs a run found before and something still
// holds (the daemon's scheduler): those with an Origin, each under the
// policy its block has in blocks (a block no longer there removes
// nothing). The State points into jobs, which must not change.
func StateOf(jobs []account.Job, blocks []Block) *State {
	pols := make(map[string]*policy, len(blocks))
	for _, b := range blocks {
		pols[b.Name] = policyOf(b)
	}
	s := &State{jobs: make(map[account.ID]found, len(jobs))}
	for i := range jobs {
		j := &jobs[i]
		if j.Origin == nil {
			continue
		}
		pol := pols[j.Origin.Block]
		if pol == nil {
			pol = &policy{block: j.Origin.Block}
		}
		s.jobs[j.Key().ID()] = found{job: j, policy: pol}
	}
	return s
}

// found is a discovered account's job, which no one changes, and its
// block's name and policy, which all the block's accounts share.
type found struct {
	job *account.Job
	*policy
}

// policy is a block's name and what to do with the secrets of accounts
// it no longer finds.
type policy struct {
	block     string
	onRemoved string
	// recalled: the accounts under this policy were recalled from Vault
	// (Recall, RecallClaims), on marks a writer of the metadata alone can
	// forge. They decide what counts as found before, and so what is
	// removed; they are never synced unless this run finds them.
	recalled bool
}

func policyOf(b Block) *policy { return &policy{block: b.Name, onRemoved: b.OnRemoved} }

// Found is a discovered account's job and the block that found it. The
// job is shared with the State and with the other Outcomes of one Memo:
// no one changes it (copy it to change it).
type Found struct {
	Job   *account.Job
	Block string
}

// Outcome is one run's result.
type Outcome struct {
	// Jobs are the discovered accounts to sync, listed ones excluded.
	Jobs []Found
	// Removals are jobs for accounts gone since the last run whose block
	// says to mark or delete their secrets, and for marked secrets of
	// accounts still gone whose block deletes (account.Job.Remove set).
	Removals []account.Job
	Decision inventory.Decision
	// Failed maps a block's name to why its discovery failed.
	Failed map[string]error
	// Found counts the resources each block found (before conflicts).
	Found map[string]int
	// Left are the secrets that carried a block's marks but that the
	// Recall behind the last run's State left out, and why (at most 100;
	// MoreLeft counts the rest).
	Left     []Left
	MoreLeft int
	// Skipped maps a block's name to the rows it skipped, and the answers
	// that covered only part of its scope (sources.Skipped.Partial): such a
	// block removes nothing this run (inventory.Block.Partial).
	Skipped map[string][]sources.Skipped
}

// Run runs every block and decides. prev is the last run's state (nil for
// none: nothing can then be removed); the new state is returned.
func Run(ctx context.Context, f Finder, blocks []Block, listed []account.Job, prev *State, o Options) (Outcome, *State) {
	in := inventory.Input{Previous: prev.entries(), MaxRemovedFraction: o.MaxRemovedFraction, Now: o.Now, Window: o.Window, Ledger: o.Ledger}
	for _, j := range listed {
		in.Listed = append(in.Listed, entryOf(&j, "account"))
	}
	out := Outcome{Failed: map[string]error{}, Found: map[string]int{}, Skipped: map[string][]sources.Skipped{}}
	cur := map[account.ID]found{}
	for _, b := range blocks {
		ib, pol := inventory.Block{Origin: b.Name, MaxRemovedFraction: b.MaxRemovedFraction}, policyOf(b)
		jobs, skipped, err := b.find(ctx, f, o)
		if err != nil {
			ib.Err = err
			out.Failed[b.Name] = err
		}
		if len(skipped) > 0 {
			ib.Partial = partialReason(skipped)
			out.Skipped[b.Name] = skipped
		}
		out.Found[b.Name] = len(jobs)
		ib.Found = make([]inventory.Entry, 0, len(jobs))
		for i := range jobs {
			j := &jobs[i]
			e := entryOf(j, b.Name)
			ib.Found = append(ib.Found, e)
			cur[id(e)] = found{job: j, policy: pol}
		}
		in.Blocks = append(in.Blocks, ib)
	}
	out.Decision = inventory.Decide(in)
	next := out.keep(cur, prev)
	out.Removals = removals(out.Decision, prev, blocks, listed)
	if prev != nil {
		out.Left, out.MoreLeft = prev.left, prev.moreLeft
	}
	return out, next
}

// keep makes the next State of the discovered accounts, each with its job
// of this run, else of the last (its block failed, or the drop was held),
// and lists in o.Jobs those to sync: found this run, or held from what
// this process found itself. An account only recalled from Vault is kept
// in the State (not removed) but not synced: its marks are metadata,
// which a writer of the metadata alone can forge onto any path the
// template makes, for an account the block does not select.
func (o *Outcome) keep(cur map[account.ID]found, prev *State) *State {
	next := &State{jobs: make(map[account.ID]found, len(o.Decision.Discovered))}
	o.Jobs = make([]Found, 0, len(o.Decision.Discovered))
	for _, e := range o.Decision.Discovered {
		fj, ok := cur[id(e)]
		if !ok {
			fj, ok = prev.job(e)
		}
		if !ok {
			continue
		}
		next.jobs[id(e)] = fj
		if _, now := cur[id(e)]; now || !fj.recalled {
			o.Jobs = append(o.Jobs, Found{Job: fj.job, Block: fj.block})
		}
	}
	return next
}

// removals are the jobs that mark or delete the secrets of the removed
// accounts whose block, still in the config, says so, and that delete the
// marked secrets of accounts gone before, when their block deletes (the
// plan deletes once the mark is old enough). A path a listed account
// syncs is never removed: the listed account wins it (and marks copied
// onto its secret's metadata must not make it a found one's). Nor is a
// derived value's own path that the same account still writes, listed
// now or kept under another key path: the removal leaves that value out
// (its sync would clear the mark, and the next removal set it anew). A
// path another account now writes is removed as ever: the secret there
// is the gone account's (plan.Removal proves it by the data mark), and
// the other account takes the path once it is deleted.
func removals(d inventory.Decision, prev *State, blocks []Block, listed []account.Job) []account.Job {
	listedPaths := make(map[string]bool, len(listed))
	// writes: the paths each gone account still writes now; only theirs
	// are kept, so a discovery of 100,000 accounts allocates nothing here
	// for the accounts that stay.
	writes := map[string]map[string]bool{}
	for _, e := range slices.Concat(d.Removed, d.Gone) {
		writes[e.Key] = nil
	}
	note := func(e inventory.Entry) {
		ws, gone := writes[e.Key]
		if !gone {
			return
		}
		if ws == nil {
			writes[e.Key] = map[string]bool{}
		}
		for _, p := range append([]string{e.Path}, e.Also...) {
			writes[e.Key][p] = true
		}
	}
	for i := range listed {
		listedPaths[listed[i].Path] = true
		if _, gone := writes[listed[i].Key().Resource]; gone {
			note(entryOf(&listed[i], ""))
		}
	}
	for _, e := range d.Discovered {
		note(e)
	}
	var out []account.Job
	add := func(e inventory.Entry, policies ...string) {
		if listedPaths[e.Path] {
			return
		}
		if fj, ok := prev.job(e); ok && slices.Contains(policies, fj.onRemoved) && blockNamed(blocks, e.Origin) {
			j := *fj.job
			j.Remove = fj.onRemoved
			j.Derived = slices.DeleteFunc(slices.Clone(j.Derived), func(s spec.Spec) bool {
				p, err := j.DerivedPath(s)
				return s.Path != "" && (err != nil || writes[e.Key][p])
			})
			out = append(out, j)
		}
	}
	for _, e := range d.Removed {
		add(e, plan.RemoveMark, plan.RemoveDelete)
	}
	for _, e := range d.Gone {
		add(e, plan.RemoveDelete)
	}
	return out
}

// find runs one block and makes a job of each resource found that o
// owns; a resource that makes no usable path is skipped, with
// the rows the finder skipped. A Memo makes them once.
func (b Block) find(ctx context.Context, f Finder, o Options) ([]account.Job, []sources.Skipped, error) {
	if m, ok := f.(*Memo); ok {
		return m.blockJobs(ctx, b, o)
	}
	return b.jobs(ctx, f, o)
}

// jobs asks f and makes the jobs of its answer, as find says.
func (b Block) jobs(ctx context.Context, f Finder, o Options) ([]account.Job, []sources.Skipped, error) {
	res, skipped, err := f.Discover(ctx, b.Selector, b.Engine)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", b.Name, err)
	}
	jobs := make([]account.Job, 0, len(res))
	origin := &account.Origin{Block: b.Name, Scope: b.Scope()}
	// The finder's slice may be a Memo's: appends must not share it.
	skipped = slices.Clip(skipped)
	for _, r := range res {
		if o.Owns != nil && !o.Owns(r.Account.ResourceID()) {
			continue
		}
		j, err := b.job(r, origin, o)
		if err != nil {
			skipped = append(skipped, sources.Skipped{Row: r.Account.ResourceID(), Reason: err.Error()})
			continue
		}
		jobs = append(jobs, j)
	}
	return jobs, skipped, nil
}

// job is the block's job for a resource found, at the path its template
// makes, which o checks.
func (b Block) job(r sources.Found, origin *account.Origin, o Options) (account.Job, error) {
	j := b.Job
	a := r.Account
	a.Rule, a.APIVersion = b.Job.Account.Rule, b.Job.Account.APIVersion
	j.Account, j.Origin = a, origin
	p, err := sources.ExpandPath(b.Path, a)
	if err != nil {
		return account.Job{}, err
	}
	j.Path = p
	if err := checkPaths(j, o); err != nil {
		return account.Job{}, err
	}
	if r.Props != nil && account.NeedsProperties(a, j.Derived) {
		j.Props = r.Props
	}
	if len(b.Selector.KeepTags) > 0 {
		j.Tags = r.Tags
		if j.Tags == nil {
			j.Tags = map[string]string{}
		}
	}
	return j, nil
}

// checkPaths checks the paths j writes, as o checks them: its own and
// those of its derived values, each made from the account's names, none
// of them its own path.
func checkPaths(j account.Job, o Options) error {
	own, err := j.DerivedPaths()
	if err != nil {
		return err
	}
	for _, p := range append([]string{j.Path}, own...) {
		if o.CheckPath == nil {
			break
		}
		if err := o.CheckPath(p); err != nil {
			return fmt.Errorf("gives path %q: %w", p, err)
		}
	}
	if slices.Contains(own, j.Path) {
		return fmt.Errorf("gives a derived value the account's own path %q", j.Path)
	}
	return nil
}

// entryOf is j's inventory entry, found by origin: its key, its path and
// the paths of its derived values (checked when it was found).
func entryOf(j *account.Job, origin string) inventory.Entry {
	also, _ := j.DerivedPaths()
	return inventory.Entry{Key: j.Key().Resource, Path: j.Path, Origin: origin, Also: also}
}

// Summary says in one line what a run found, added and removed.
func (o Outcome) Summary() string {
	d := o.Decision
	var b strings.Builder
	fmt.Fprintf(&b, "discovery: %d accounts, %d added, %d removed", len(d.Discovered), len(d.Added), len(d.Removed))
	if len(d.Conflicts) > 0 {
		fmt.Fprintf(&b, ", %d conflicts", len(d.Conflicts))
	}
	if len(o.Failed) > 0 {
		fmt.Fprintf(&b, ", %d blocks failed", len(o.Failed))
	}
	rows, partial := o.skippedRows()
	if rows > 0 {
		fmt.Fprintf(&b, ", %d rows skipped (their blocks removed nothing)", rows)
	}
	if partial > 0 {
		fmt.Fprintf(&b, ", %d answers covered part of their scope (their blocks removed nothing)", partial)
	}
	if d.Held != "" {
		b.WriteString("; " + d.Held)
	}
	return b.String()
}

// skippedRows counts the rows every block skipped, and the answers that
// covered part of their scope.
func (o Outcome) skippedRows() (rows, partial int) {
	for _, skipped := range o.Skipped {
		for _, s := range skipped {
			if s.Partial {
				partial++
			} else {
				rows++
			}
		}
	}
	return rows, partial
}

// partialReason says why a block's Found may lack accounts that exist.
func partialReason(skipped []sources.Skipped) string {
	var parts []string
	rows := 0
	for _, s := range skipped {
		if s.Partial {
			parts = append(parts, s.Row+": "+s.Reason)
		} else {
			rows++
		}
	}
	if rows > 0 {
		parts = append([]string{fmt.Sprintf("%d rows skipped", rows)}, parts...)
	}
	return strings.Join(parts, "; ")
}

// entries are the inventory entries of the accounts s holds, by key and
// path as a decision lists them; nil for a nil State.
func (s *State) entries() []inventory.Entry {
	if s == nil {
		return nil
	}
	out := make([]inventory.Entry, 0, len(s.jobs))
	for k, fj := range s.jobs {
		at, marked := s.marks[k]
		e := entryOf(fj.job, fj.block)
		e.Marked, e.GoneAt = marked, at
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b inventory.Entry) int {
		return cmp.Or(strings.Compare(a.Key, b.Key), strings.Compare(a.Path, b.Path))
	})
	return out
}

func (s *State) job(e inventory.Entry) (found, bool) {
	if s == nil {
		return found{}, false
	}
	fj, ok := s.jobs[id(e)]
	return fj, ok
}

func blockNamed(blocks []Block, name string) bool {
	for _, b := range blocks {
		if b.Name == name {
			return true
		}
	}
	return false
}

// id is the id of e's account.
func id(e inventory.Entry) account.ID { return account.Key{Resource: e.Key, Path: e.Path}.ID() }

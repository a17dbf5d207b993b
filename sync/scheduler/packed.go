package scheduler

import (
	"maps"
	"slices"
	"strings"

	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/account"
	"github.com/keysync/keysync/sync/derive/spec"
	"github.com/keysync/keysync/sync/plan"
)

// Packing is the scheduler's own storage: nothing outside this package
// sees a packed job, a slab or the string that holds a reload's names and
// paths. Callers give and get account.Jobs. TestPackedSizes pins the size
// of each struct kept per account: an estate holds 100,000.

// packed is a Job as the scheduler keeps it: what is the account's own
// (its name, its path, its tags, the properties its discovery read) beside one pointer to what it shares
// with other accounts (its subscription, resource group, type, rule and
// api-version, and its block's settings), a fraction of a Job's size. The
// zero packed is not usable: make one with a packer.
type packed struct {
	name, path  string
	tags, props map[string]string
	shared      *account.Job // the rest of the job: no name, path, tags or props
}

// Job returns the job p holds.
func (p *packed) Job() account.Job {
	j := *p.shared
	j.Account.Name, j.Path, j.Tags, j.Props = p.name, p.path, p.tags, p.props
	return j
}

// Path is the job's path.
func (p *packed) Path() string { return p.path }

// Name is the account's name.
func (p *packed) Name() string { return p.name }

// Shared is the part of the job p shares with others, Account.Name, Path,
// Tags and Props empty; the caller must not change it.
func (p *packed) Shared() *account.Job { return p.shared }

// packer packs jobs, holding each distinct shared part once. Its own
// memory is only what Pack needs to find them: drop it when done packing.
type packer struct {
	shared map[sharedKey]*account.Job
}

// sharedKey is what makes two jobs' shared parts the same: the account
// without its name, and the settings; Fields by content.
type sharedKey struct {
	account sources.Account
	adopt   bool
	fields  string
	rotate  *plan.Rotation
	origin  *account.Origin
	remove  string
	// derived is the job's derived values by identity: a block's jobs
	// share one slice, listed accounts each have their own.
	derived *spec.Spec
}

// pack packs j.
func (pk *packer) pack(j account.Job) packed {
	p := packed{name: j.Account.Name, path: j.Path, tags: j.Tags, props: j.Props}
	j.Account.Name, j.Path, j.Tags, j.Props = "", "", nil, nil
	k := sharedKey{account: j.Account, adopt: j.Adopt, fields: fieldsKey(j.Fields), rotate: j.Rotate, origin: j.Origin, remove: j.Remove,
		derived: derivedKey(j.Derived)}
	if pk.shared == nil {
		pk.shared = map[sharedKey]*account.Job{}
	}
	s, ok := pk.shared[k]
	if !ok {
		s = detachShared(j)
		pk.shared[k] = s
	}
	p.shared = s
	return p
}

// detachShared is a shared part whose strings are interned: a finder's
// strings may be pieces of a resource id (~120 bytes) the part would
// otherwise keep, and a config's of the whole file.
func detachShared(j account.Job) *account.Job {
	a := &j.Account
	a.SubscriptionID, a.ResourceGroup, a.Type = account.Intern(a.SubscriptionID), account.Intern(a.ResourceGroup), account.Intern(a.Type)
	a.Rule, a.APIVersion = account.Intern(a.Rule), account.Intern(a.APIVersion)
	return &j
}

// derivedKey is the identity of a job's derived values, nil for none.
func derivedKey(d []spec.Spec) *spec.Spec {
	if len(d) == 0 {
		return nil
	}
	return &d[0]
}

// fieldsKey is m's entries in order, each name and value ended by a NUL
// (which no field name holds); "" for none.
func fieldsKey(m map[string]string) string {
	if len(m) == 0 {
		return ""
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		b.WriteString(k + "\x00" + m[k] + "\x00")
	}
	return b.String()
}

// compact moves the names and paths of ps into one string: an estate then
// holds them in one allocation, not two small ones each scattered among
// whatever was allocated beside them.
func compact(ps []*packed) {
	n := 0
	for _, p := range ps {
		n += len(p.name) + len(p.path)
	}
	var b strings.Builder
	b.Grow(n)
	for _, p := range ps {
		b.WriteString(p.name)
		b.WriteString(p.path)
	}
	all, off := b.String(), 0
	for _, p := range ps {
		p.name, off = all[off:off+len(p.name)], off+len(p.name)
		p.path, off = all[off:off+len(p.path)], off+len(p.path)
	}
}

// held is an account as the scheduler keeps it: its job packed, its label
// and schedule. It never changes: a reload that changes the account gives
// a new one, so that published views may point at it.
type held struct {
	packed
	Schedule *Schedule
	// label, when set, is the account's label, else its name is: a
	// pointer, not a string, keeps a held account small
	// (TestPackedSizes).
	label *string
}

// holdAll is accounts as an install keeps them: one slab for them all, their
// names and paths in one string (compact), so that what an estate
// keeps for long is not scattered among what a discovery dropped.
func holdAll(accounts []Account) []held {
	slab := make([]held, len(accounts))
	ps := make([]*packed, len(accounts))
	var pk packer
	for i := range accounts {
		a, h := &accounts[i], &slab[i]
		*h = held{packed: pk.pack(a.Job), Schedule: a.Schedule}
		if a.Label != h.Name() {
			l := a.Label // not &a.Label: that would keep the caller's slice
			h.label = &l
		}
		ps[i] = &h.packed
	}
	compact(ps)
	return slab
}

// Label is the account's label.
func (h *held) Label() string {
	if h.label != nil {
		return *h.label
	}
	return h.Name()
}

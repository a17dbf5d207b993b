package runner

import (
	"maps"
	"slices"
	"strings"

	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/derive/spec"
	"github.com/keysync/keysync/sync/plan"
)

// Packed is a Job as a holder that keeps it for long keeps it: what is the
// account's own (its name, its path, its tags) beside one pointer to what
// it shares with other accounts (its subscription, resource group, type,
// rule and api-version, and its block's settings). It takes 48 bytes
// where a Job takes 168; an estate holds 100,000. The zero Packed is not
// usable: make one with a Packer.
type Packed struct {
	name, path string
	tags       map[string]string
	shared     *Job // the rest of the job: no name, path or tags
}

// Job returns the job p holds.
func (p *Packed) Job() Job {
	j := *p.shared
	j.Account.Name, j.Path, j.Tags = p.name, p.path, p.tags
	return j
}

// Path is the job's path.
func (p *Packed) Path() string { return p.path }

// Name is the account's name.
func (p *Packed) Name() string { return p.name }

// Shared is the part of the job p shares with others, Account.Name, Path
// and Tags empty; the caller must not change it.
func (p *Packed) Shared() *Job { return p.shared }

// Packer packs jobs, holding each distinct shared part once. Its own
// memory is only what Pack needs to find them: drop it when done packing.
type Packer struct {
	shared map[sharedKey]*Job
}

// sharedKey is what makes two jobs' shared parts the same: the account
// without its name, and the settings; Fields by content.
type sharedKey struct {
	account sources.Account
	adopt   bool
	fields  string
	rotate  *plan.Rotation
	origin  *Origin
	remove  string
	// derived is the job's derived values by identity: a block's jobs
	// share one slice, listed accounts each have their own.
	derived *spec.Spec
}

// Pack packs j.
func (pk *Packer) Pack(j Job) Packed {
	p := Packed{name: j.Account.Name, path: j.Path, tags: j.Tags}
	j.Account.Name, j.Path, j.Tags = "", "", nil
	k := sharedKey{account: j.Account, adopt: j.Adopt, fields: fieldsKey(j.Fields), rotate: j.Rotate, origin: j.Origin, remove: j.Remove,
		derived: derivedKey(j.Derived)}
	if pk.shared == nil {
		pk.shared = map[sharedKey]*Job{}
	}
	s, ok := pk.shared[k]
	if !ok {
		s = &j
		pk.shared[k] = s
	}
	p.shared = s
	return p
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

// Compact moves the names and paths of ps into one string: an estate then
// holds them in one allocation, not two small ones each scattered among
// whatever was allocated beside them.
func Compact(ps []*Packed) {
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

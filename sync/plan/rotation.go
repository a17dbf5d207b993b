package plan

import (
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/keysync/keysync/secret"
	"github.com/keysync/keysync/sinks"
)

// Rotation fields and metadata keys.
const (
	// FieldActive names the key consumers should use, by its field name
	// ("primary" or "secondary" for Batch). The other key of the pair
	// stays valid for a whole period. A second pair has its own field,
	// FieldActive+"-"+name (Cosmos DB's "active-readonly").
	FieldActive = "active"
	// MetaRotatedAt is when the last rotation happened (or, before the
	// first, when keysync began to rotate the account); a second pair
	// records "rotated-<name>-at".
	MetaRotatedAt = "rotated-at"
	// MetaRotatedPrefix precedes a key name: when that key was last
	// regenerated, e.g. "rotated-secondary-at".
	MetaRotatedPrefix = "rotated-"
	// MetaRotationPending is written before a key is regenerated: the
	// key's name and the time, "secondary 2026-01-02T03:04:05Z". Found
	// with that key changed in the answer, it completes the rotation it
	// records (a write that failed, a process killed); found with the key
	// unchanged, it holds every pair back while the regenerate may yet
	// land (Rotation.InFlight).
	MetaRotationPending = "rotation-pending"
)

// Rotation is an account's rotation policy.
//
// The metadata keysync records (MetaRotatedAt, the per-key stamps,
// MetaRotationPending) is custom metadata, which a principal allowed to
// write only a secret's metadata can set. So no regeneration rests on it
// alone: each also needs the live version (sinks.State.Created, set by
// Vault on a data write, which such a principal cannot make) to be at
// least max(Every, Grace) old. Every move of an active field is a data
// write, so the key active moved away from is never regenerated within
// Grace of the move.
type Rotation struct {
	// Every is the period between rotations.
	Every time.Duration
	// Grace is the least time between an active field moving away from a
	// key and that key's regeneration.
	Grace time.Duration
	// InFlight is how long after its record a regenerate keysync started
	// may still land; zero means DefaultInFlight. A record younger than
	// this whose key did not change holds every pair back; an older one
	// is of a regenerate that did not land, and is ignored.
	InFlight time.Duration
	// Pairs are the pairs that rotate, at most one key per sync; none
	// means DefaultPair.
	Pairs []Pair
}

// DefaultInFlight is Rotation.InFlight when unset.
const DefaultInFlight = 30 * time.Minute

// ClockSkew is how far a recorded time may lie ahead of the clock that
// judges it: keysync's hosts and Vault's do not agree to the second.
const ClockSkew = 5 * time.Minute

// Pair is two keys of equal power and the field that names the one in use.
type Pair struct {
	// Active is the field naming the key in use: FieldActive, or
	// FieldActive+"-"+name for a type's second pair.
	Active string
	// Keys are the key fields; the first is active at the first sync.
	Keys [2]string
}

// DefaultPair is Batch's pair.
var DefaultPair = Pair{Active: FieldActive, Keys: [2]string{"primary", "secondary"}}

// RotationPlan is what a rotating account does this cycle.
type RotationPlan struct {
	// Regenerate is the key to regenerate now, "" for none.
	Regenerate string
	// Record, when Regenerate is set, is the custom metadata to write
	// before regenerating: what the sink holds plus MetaRotationPending.
	Record map[string]string
	// Completed is the key whose regeneration a MetaRotationPending
	// record names and the answer shows done (or Vault already names
	// active): this write completes it.
	Completed string
	// Held is the key of a recorded regenerate that may still land, and
	// HeldSince the record's time: no key is regenerated until it lands
	// or InFlight has passed.
	Held      string
	HeldSince time.Time
	// Active maps each pair's active field to its key after this cycle.
	Active map[string]string
	// Meta is the rotation metadata to record.
	Meta map[string]string
	// Problems says, for people, what the rotation metadata held that
	// keysync did not trust (or why the account cannot rotate): each was
	// ignored, and this cycle's write repairs what it can. They name
	// metadata keys, key names and times, never a value read as is.
	Problems []string
}

// decideRotation decides, from what the sink holds and the keys fetched,
// what each pair does. A first sync records a baseline (the pair's first
// key active, no regeneration). A recorded regeneration whose key changed
// is completed. A record of a regenerate that may still land holds every
// pair back. Otherwise the pairs take turns (the data says whose turn it
// is) and the pair whose turn it is, if due, regenerates its inactive key:
// one key per sync.
func decideRotation(cur sinks.State, fields secret.Fields, p Rotation, now time.Time) RotationPlan {
	pairs := p.pairs()
	ck := newCheck(cur, now)
	rp := RotationPlan{Active: map[string]string{}, Meta: ck.rotationMeta(cur, pairs)}
	for _, pair := range pairs {
		rp.Active[pair.Active] = activeOf(cur.Data, pair)
	}
	rec := ck.record(cur, fields, pairs, p.inFlight())
	switch rec.state {
	case recDone:
		// The period counts from now, when consumers can first read the
		// new key (a completion may come a day late, after Vault was
		// unwritable); the grace of the key from its regeneration.
		pair := pairOf(pairs, rec.key)
		rp.Completed, rp.Active[pair.Active] = rec.key, rec.key
		rp.Meta[pair.at()], rp.Meta[keyAt(rec.key)] = stamp(now), stamp(rec.at)
	case recLanded:
		// The data write that made the key active landed at the live
		// version's time, the metadata write after it did not: the
		// period counts from that version, not from now.
		rp.Completed = rec.key
		rp.Meta[pairOf(pairs, rec.key).at()], rp.Meta[keyAt(rec.key)] = stamp(ck.since), stamp(rec.at)
	case recHeld:
		rp.Held, rp.HeldSince, rp.Meta[MetaRotationPending] = rec.key, rec.at, rec.raw
	}
	if rec.state != recDone && rec.state != recHeld {
		if pair, ok := ck.next(cur, rp.Meta, pairs, p); ok {
			rp.regenerate(cur, pair, now)
		}
	}
	rp.Problems = ck.problems
	return rp
}

// regenerate makes pair's inactive key the one to regenerate now, with the
// record to write before and the stamps to write after.
func (rp *RotationPlan) regenerate(cur sinks.State, pair Pair, now time.Time) {
	other := pair.other(rp.Active[pair.Active])
	rp.Regenerate, rp.Active[pair.Active] = other, other
	rp.Meta[pair.at()], rp.Meta[keyAt(other)] = stamp(now), stamp(now)
	rp.Record = maps.Clone(cur.Metadata)
	if rp.Record == nil {
		rp.Record = map[string]string{}
	}
	rp.Record[MetaRotationPending] = other + " " + stamp(now)
}

// next is the pair to rotate now, if any: the pairs take turns, starting
// with the one whose turn the data says it is (turn), and the first of
// them that is due goes.
func (ck *check) next(cur sinks.State, meta map[string]string, pairs []Pair, p Rotation) (Pair, bool) {
	start := turn(cur.Data, pairs)
	for i := range pairs {
		pair := pairs[(start+i)%len(pairs)]
		if ck.due(cur, meta, pair, p) {
			return pair, true
		}
	}
	return Pair{}, false
}

// turn is the index of the pair whose turn it is. Each rotation moves one
// pair's active field to its other key, in turn from the first pair, so
// the pairs that have rotated once more than the rest are a prefix: the
// turn is the first pair whose active key's place differs from the first
// pair's, or the first pair when all agree. It reads only the data,
// which a writer of the metadata alone cannot change, so no such writer
// can starve a pair.
func turn(d secret.Data, pairs []Pair) int {
	first := slices.Index(pairs[0].Keys[:], activeOf(d, pairs[0]))
	for i := 1; i < len(pairs); i++ {
		if slices.Index(pairs[i].Keys[:], activeOf(d, pairs[i])) != first {
			return i
		}
	}
	return 0
}

// due reports whether pair rotates now. The data must already name its
// active key (consumers were told which key to use), and the live version
// must be at least max(Every, Grace) old: that version holds the last move
// of every active field, and a writer of the metadata alone cannot make
// it look older. Then the recorded period must have passed, and the
// inactive key must not have been regenerated within the grace.
func (ck *check) due(cur sinks.State, meta map[string]string, pair Pair, p Rotation) bool {
	v, ok := cur.Data.Field(pair.Active)
	if !ok || !slices.Contains(pair.Keys[:], v.Reveal()) || ck.created.IsZero() || ck.now.Sub(ck.created) < max(p.Every, p.Grace) {
		return false
	}
	if last, err := time.Parse(time.RFC3339, meta[pair.at()]); err != nil || ck.now.Sub(last) < p.Every {
		return false
	}
	prev, err := time.Parse(time.RFC3339, meta[keyAt(pair.other(v.Reveal()))])
	return err != nil || ck.now.Sub(prev) >= p.Grace
}

// keyChanged reports whether the answer's key differs from the one held.
func keyChanged(held secret.Data, fields secret.Fields, key string) bool {
	want, ok := fields[key]
	have, held2 := held.Field(key)
	return ok && held2 && !have.Equal(want)
}

// namedActive reports whether the held secret names key active in its
// pair's field. A record names a key that was inactive when it was
// written, so this means the write after the regenerate landed and the
// metadata write after it (which drops the record) did not: the rotation
// is done, and the other key was in use until then.
func namedActive(d secret.Data, pairs []Pair, key string) bool {
	for _, pair := range pairs {
		if v, ok := d.Field(pair.Active); ok && slices.Contains(pair.Keys[:], key) && v.Reveal() == key {
			return true
		}
	}
	return false
}

// activeOf is the pair's key the held secret names active; the pair's
// first key when it names none of the pair's.
func activeOf(d secret.Data, pair Pair) string {
	if v, ok := d.Field(pair.Active); ok && v.Reveal() == pair.Keys[1] {
		return pair.Keys[1]
	}
	return pair.Keys[0]
}

// pairOf is the pair that holds key, which a parsed record always names.
func pairOf(pairs []Pair, key string) Pair {
	for _, pair := range pairs {
		if slices.Contains(pair.Keys[:], key) {
			return pair
		}
	}
	return Pair{}
}

func (p Rotation) pairs() []Pair {
	if len(p.Pairs) == 0 {
		return []Pair{DefaultPair}
	}
	return p.Pairs
}

func (p Rotation) inFlight() time.Duration {
	if p.InFlight <= 0 {
		return DefaultInFlight
	}
	return p.InFlight
}

// other is the pair's key that is not k.
func (p Pair) other(k string) string {
	if k == p.Keys[0] {
		return p.Keys[1]
	}
	return p.Keys[0]
}

// at is the metadata key of the pair's last rotation.
func (p Pair) at() string {
	if name, ok := strings.CutPrefix(p.Active, FieldActive+"-"); ok {
		return MetaRotatedPrefix + name + "-at"
	}
	return MetaRotatedAt
}

func keyAt(key string) string { return MetaRotatedPrefix + key + "-at" }

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

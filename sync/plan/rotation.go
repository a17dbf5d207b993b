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
	// unchanged, it holds that key back for a grace, since the regenerate
	// may yet land.
	MetaRotationPending = "rotation-pending"
)

// Rotation is an account's rotation policy.
type Rotation struct {
	// Every is the period between rotations.
	Every time.Duration
	// Grace is the least time between two regenerations of the same key.
	Grace time.Duration
	// Pairs are the pairs that rotate, at most one key per sync; none
	// means DefaultPair.
	Pairs []Pair
}

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
	// record names and the answer shows done: this write completes it.
	Completed string
	// Active maps each pair's active field to its key after this cycle.
	Active map[string]string
	// Meta is the rotation metadata to record.
	Meta map[string]string
}

// pendingRecord is a parsed MetaRotationPending.
type pendingRecord struct {
	key string
	at  time.Time
	raw string
}

// decideRotation decides, from what the sink holds and the keys fetched,
// what each pair does. A first sync records a baseline (the pair's first
// key active, no regeneration). A recorded regeneration whose key changed
// is completed. Otherwise, of the pairs whose period has passed and whose
// inactive key was not regenerated within the grace, the one rotated
// longest ago regenerates that key: one key per sync, and no pair starves
// another. A record not completed within its grace holds every pair back.
func decideRotation(cur sinks.State, fields secret.Fields, p Rotation, now time.Time) RotationPlan {
	pairs := p.pairs()
	rp := RotationPlan{Active: map[string]string{}, Meta: rotationMeta(cur.Metadata, pairs)}
	rec, hasRec := readRecord(cur.Metadata, pairs)
	done := hasRec && (keyChanged(cur.Data, fields, rec.key) || namedActive(cur.Data, pairs, rec.key))
	var next *Pair
	for _, pair := range pairs {
		active := activeOf(cur.Data, pair)
		rp.Active[pair.Active] = active
		last, err := time.Parse(time.RFC3339, cur.Metadata[pair.at()])
		switch {
		case !cur.Exists || err != nil:
			rp.Meta[pair.at()] = stamp(now)
		case done && slices.Contains(pair.Keys[:], rec.key):
			rp.Completed = rec.key
			rp.Active[pair.Active] = rec.key
			// The period counts from now, when consumers can first read
			// the new key (a completion may come a day late, after Vault
			// was unwritable); the grace of the key from its regeneration.
			rp.Meta[pair.at()], rp.Meta[keyAt(rec.key)] = stamp(now), stamp(rec.at)
		case due(cur.Metadata, pair, active, rec, p, now) && (next == nil || last.Before(lastOf(cur.Metadata, *next))):
			next = &pair
		}
	}
	// An unresolved record within its grace holds every pair back: the
	// record is one key's, and another regenerate would replace it.
	holding := hasRec && !done && now.Sub(rec.at) < p.Grace
	if next != nil && !done && !holding {
		other := next.other(rp.Active[next.Active])
		rp.Regenerate, rp.Active[next.Active] = other, other
		rp.Meta[next.at()], rp.Meta[keyAt(other)] = stamp(now), stamp(now)
		rp.Record = maps.Clone(cur.Metadata)
		rp.Record[MetaRotationPending] = other + " " + stamp(now)
	}
	if holding {
		rp.Meta[MetaRotationPending] = rec.raw
	}
	return rp
}

// lastOf is when pair last rotated, as meta records it.
func lastOf(meta map[string]string, pair Pair) time.Time {
	t, _ := time.Parse(time.RFC3339, meta[pair.at()])
	return t
}

// due reports whether pair rotates now: its period has passed and its
// inactive key was neither regenerated nor recorded as about to be within
// the grace.
func due(meta map[string]string, pair Pair, active string, rec pendingRecord, p Rotation, now time.Time) bool {
	last, _ := time.Parse(time.RFC3339, meta[pair.at()])
	if now.Sub(last) < p.Every {
		return false
	}
	other := pair.other(active)
	if prev, err := time.Parse(time.RFC3339, meta[keyAt(other)]); err == nil && now.Sub(prev) < p.Grace {
		return false
	}
	return rec.key != other || now.Sub(rec.at) >= p.Grace
}

// readRecord parses the MetaRotationPending record, if it names a key of
// one of pairs; anything else is no record (and is dropped at the next
// write).
func readRecord(meta map[string]string, pairs []Pair) (pendingRecord, bool) {
	raw := meta[MetaRotationPending]
	key, at, ok := strings.Cut(raw, " ")
	t, err := time.Parse(time.RFC3339, at)
	if !ok || err != nil {
		return pendingRecord{}, false
	}
	for _, pair := range pairs {
		if slices.Contains(pair.Keys[:], key) {
			return pendingRecord{key: key, at: t, raw: raw}, true
		}
	}
	return pendingRecord{}, false
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

func (p Rotation) pairs() []Pair {
	if len(p.Pairs) == 0 {
		return []Pair{DefaultPair}
	}
	return p.Pairs
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

// rotationMeta copies the rotation entries of existing metadata.
func rotationMeta(m map[string]string, pairs []Pair) map[string]string {
	out := map[string]string{}
	for _, pair := range pairs {
		for _, k := range []string{pair.at(), keyAt(pair.Keys[0]), keyAt(pair.Keys[1])} {
			if v, ok := m[k]; ok {
				out[k] = v
			}
		}
	}
	return out
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

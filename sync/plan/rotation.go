package plan

import (
	"time"

	"github.com/keysync/keysync/sinks"
)

// Rotation fields and metadata keys.
const (
	// FieldActive names the key consumers should use: "primary" or
	// "secondary". The other one stays valid for a whole period.
	FieldActive = "active"
	// MetaRotatedAt is when the last rotation happened (or, before the
	// first, when keysync began to rotate the account).
	MetaRotatedAt = "rotated-at"
	// MetaRotatedPrefix precedes a key name: when that key was last
	// regenerated, e.g. "rotated-secondary-at".
	MetaRotatedPrefix = "rotated-"
)

// Rotation is an account's rotation policy.
type Rotation struct {
	// Every is the period between rotations.
	Every time.Duration
	// Grace is the least time between two regenerations of the same key.
	Grace time.Duration
}

// RotationPlan is what a rotating account does this cycle.
type RotationPlan struct {
	// Regenerate is the key to regenerate now, "" for none.
	Regenerate string
	// Active is the key consumers use after this cycle.
	Active string
	// Meta is the rotation metadata to record.
	Meta map[string]string
}

// decideRotation decides, from what Vault holds, whether to rotate now. A
// first sync records a baseline (primary active, no regeneration). A
// rotation regenerates the key that is not active, and only when the
// period has passed and that key was not regenerated within the grace.
func decideRotation(cur sinks.State, p Rotation, now time.Time) RotationPlan {
	active := "primary"
	if v, ok := cur.Data.Field(FieldActive); ok && v.Reveal() == "secondary" {
		active = "secondary"
	}
	last, err := time.Parse(time.RFC3339, cur.Metadata[MetaRotatedAt])
	if !cur.Exists || err != nil {
		return RotationPlan{Active: active, Meta: map[string]string{MetaRotatedAt: stamp(now)}}
	}
	keep := RotationPlan{Active: active, Meta: rotationMeta(cur.Metadata)}
	other := "primary"
	if active == "primary" {
		other = "secondary"
	}
	if now.Sub(last) < p.Every {
		return keep
	}
	if prev, err := time.Parse(time.RFC3339, cur.Metadata[MetaRotatedPrefix+other+"-at"]); err == nil && now.Sub(prev) < p.Grace {
		return keep
	}
	meta := rotationMeta(cur.Metadata)
	meta[MetaRotatedAt] = stamp(now)
	meta[MetaRotatedPrefix+other+"-at"] = stamp(now)
	return RotationPlan{Regenerate: other, Active: other, Meta: meta}
}

// Done is the plan once its key has been regenerated: what is left is to
// write the keys, the active key's name and the record.
func (rp RotationPlan) Done() RotationPlan {
	rp.Regenerate = ""
	return rp
}

// rotationMeta copies the rotation entries of existing metadata.
func rotationMeta(m map[string]string) map[string]string {
	out := map[string]string{}
	for _, k := range []string{MetaRotatedAt, MetaRotatedPrefix + "primary-at", MetaRotatedPrefix + "secondary-at"} {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	return out
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

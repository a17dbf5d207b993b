package plan

import (
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/keysync/keysync/sinks"
)

// owner is what a KV v2 secret shows of whose it is, for one account.
type owner int

const (
	// ownerNone: no managed-by=keysync in the custom_metadata.
	ownerNone owner = iota
	// ownerLegacy: managed-by=keysync but no data mark, and the metadata's
	// fingerprints match the data (legacyProof): keysync wrote the secret
	// before it marked data, or someone who knew its data wrote them.
	ownerLegacy
	// ownerThis: managed-by=keysync and the data mark of this account.
	ownerThis
	// ownerUnproven: managed-by=keysync, no data mark, and fingerprints
	// that do not match the data: a mark copied by a writer of the
	// metadata alone, never keysync's own work.
	ownerUnproven
	// ownerOther: the data mark names another account (or is not a
	// string): keysync wrote it for someone else, or it is not keysync's.
	ownerOther
	// ownerCutShort: no managed-by=keysync, but the data mark of this
	// account on the secret's first and only version, which holds nothing
	// but keysync's fields: a create whose data write landed and whose
	// metadata write did not (sinks.Write.Create writes data first). Only
	// a writer of the data can make one, who could overwrite the secret
	// anyway; a writer of the metadata alone cannot.
	ownerCutShort
)

// ownerOf reads whose a versioned secret says it is, for the account of
// resourceID whose keys are fields (each fingerprinted in the metadata);
// also names the other fields keysync writes there (see written).
func ownerOf(cur sinks.State, resourceID string, fields, also []string) owner {
	mark, ok := cur.Data.Field(FieldOwner)
	switch {
	case cur.Data.Has(FieldOwner) && (!ok || !strings.EqualFold(mark.Reveal(), resourceID)):
		return ownerOther
	case cur.Metadata[MetaManagedBy] != ManagedByValue:
		if ok && cutShort(cur, fields, also) {
			return ownerCutShort
		}
		return ownerNone
	case ok:
		return ownerThis
	case !legacyProof(cur, fields):
		return ownerUnproven
	}
	return ownerLegacy
}

// cutShort reports whether a secret is all that keysync's create writes:
// version 1, and no field but fields, also, the data mark and the active
// key's name. Anything more (a second version, a field of someone
// else's) is not keysync's create alone, and a write over it needs adopt.
func cutShort(cur sinks.State, fields, also []string) bool {
	if cur.Version != 1 || !cur.Exists {
		return false
	}
	for _, name := range cur.Data.Names() {
		if name != FieldOwner && name != FieldActive && !slices.Contains(fields, name) && !slices.Contains(also, name) {
			return false
		}
	}
	return true
}

// legacyProof reports whether a secret without the data mark shows that
// whoever wrote its metadata knew its data: keysync recorded a fingerprint
// (48 bits of SHA-256) of every field it wrote, so a secret it wrote
// before data marks has one for each of the account's fields (fields;
// those its metadata names when nil), each matching a value as long as a
// key. A writer of the metadata alone, who cannot read the data, cannot
// make them match, nor guess a key; a short value ("true", "") it could.
func legacyProof(cur sinks.State, fields []string) bool {
	if fields == nil {
		for k := range cur.Metadata {
			if name, ok := strings.CutPrefix(k, MetaFingerprintPrefix); ok {
				fields = append(fields, name)
			}
		}
	}
	for _, name := range fields {
		v, ok := cur.Data.Field(name)
		if !ok || len(v.Reveal()) < minKeyLength || v.Fingerprint() != cur.Metadata[MetaFingerprintPrefix+name] {
			return false
		}
	}
	return len(fields) > 0
}

// minKeyLength is the shortest value a legacy proof accepts: every key of
// the ten types is longer (sources.CheckKey), and a value this long that
// was not read cannot be guessed.
const minKeyLength = 16

// Reasons a secret is not written or not deleted. None quotes the data:
// a foreign field could hold anything.
const (
	reasonNotOurs = "secret exists and was not created by keysync (no managed-by=keysync in its custom_metadata); set adopt = true on this account to take it over"
	reasonOther   = "the secret's data names another resource in " + FieldOwner + ": two accounts aim at this path, and keysync never overwrites another account's secret (adopt does not change this)"
	reasonLegacy  = "the secret carries managed-by=keysync in its custom_metadata but its data lacks " + FieldOwner +
		" (keysync's mark in the data, which a writer of the metadata alone cannot forge)"
	reasonDeleted  = "the secret's current version is deleted or expired: keysync cannot read whose it is, and will not write over it; undelete it, delete its metadata (vault kv metadata delete), or set adopt = true on this account to take it over"
	reasonUnproven = "the secret carries managed-by=keysync in its custom_metadata, but neither keysync's data mark (" + FieldOwner +
		") nor fingerprints that match its data: a mark a writer of the metadata alone can copy, not keysync's work"
	reasonCutShortOld = "the secret holds keysync's data mark and fields on its only version but no managed-by=keysync, and that version is older than rotate_every: " +
		"not a create of keysync's cut short moments ago, and rotating it now would regenerate a key; set adopt = true on this account to take it over"
	reasonCutShort = "keysync's create of this secret stopped before its metadata (managed-by=keysync) was written; the account's next sync writes it"
	reasonClash    = "the keys answer has a field named " + FieldOwner + " or " + FieldGoneAt + ", keysync's own ownership marks: nothing written"
)

// refusal says why keysync may not write desired over current, "" when
// it may. On KV v2: a data mark naming another account refuses even with
// Adopt; no managed-by=keysync refuses without Adopt; a legacy secret
// (managed-by=keysync, no data mark) is keysync's to write, and the write
// adds the mark, unless RefuseLegacy. KV v1 holds no marks: every secret
// there counts as keysync's.
func refusal(current sinks.State, d Desired, now time.Time) string {
	for _, own := range []string{FieldOwner, FieldGoneAt} {
		if _, clash := d.Fields[own]; clash {
			return reasonClash
		}
	}
	if !current.Versioned {
		// KV v1 keeps no metadata: every secret there counts as keysync's,
		// but one its data mark gives to another account is not.
		if mark, ok := current.Data.Field(FieldOwner); ok && !strings.EqualFold(mark.Reveal(), d.ResourceID) {
			return reasonOther
		}
		return ""
	}
	if !current.Exists {
		// A version there, deleted or expired (delete_version_after, which
		// a writer of the metadata alone may set): whose it was cannot be
		// read, and a write would push it out for good under max_versions.
		if current.Version > 0 && !d.Adopt {
			return reasonDeleted
		}
		return ""
	}
	switch ownerOf(current, d.ResourceID, d.Fields.Names(), written(d)) {
	case ownerOther:
		return reasonOther
	case ownerNone:
		if !d.Adopt {
			return reasonNotOurs
		}
	case ownerUnproven:
		if !d.Adopt {
			return reasonUnproven + "; set adopt = true on this account to take it over"
		}
	case ownerLegacy:
		if d.RefuseLegacy && !d.Adopt {
			return reasonLegacy + ", and [vault] legacy_ownership = false; set adopt = true on this account to take it over"
		}
	case ownerCutShort:
		// A create is repaired at the account's next sync. One older than
		// the rotation period would rotate at once: a writer of the data
		// could have planted it, long ago, to have a key regenerated.
		if d.Rotate != nil && !d.Adopt && (current.Created.IsZero() || !now.Before(current.Created.Add(d.Rotate.Every))) {
			return reasonCutShortOld
		}
	}
	return ""
}

// written names the fields keysync writes for d beside its keys and the
// data mark: each rotating pair's active field, and the derived values
// kept beside the keys (Desired.Derived), which a plan made before they
// are derived does not hold in Fields.
func written(d Desired) []string {
	out := slices.Clone(d.Derived)
	if d.Rotate != nil {
		for _, p := range d.Rotate.pairs() {
			out = append(out, p.Active)
		}
	}
	return out
}

// withOwnerMark adds the data mark to the plain fields a KV v2 write
// sets, so that every write carries it and a secret written before the
// mark existed gets it at its next write. plain is not changed.
func withOwnerMark(plain map[string]string, d Desired) map[string]string {
	out := make(map[string]string, len(plain)+1)
	maps.Copy(out, plain)
	out[FieldOwner] = strings.ToLower(d.ResourceID)
	return out
}

// provablyOwned reports whether a secret shows, beyond what a writer of
// its metadata alone could forge, that keysync wrote it for the account
// of resourceID: managed-by=keysync in its metadata and that account's
// mark in its data. When not, the reason says why.
func provablyOwned(cur sinks.State, resourceID string, fields []string) (bool, string) {
	switch ownerOf(cur, resourceID, fields, nil) {
	case ownerThis:
		return true, ""
	case ownerOther:
		return false, "the secret's data names another resource in " + FieldOwner
	case ownerNone:
		return false, "secret was not created by keysync (no managed-by=keysync)"
	case ownerUnproven:
		return false, reasonUnproven
	case ownerCutShort:
		return false, reasonCutShort
	}
	return false, reasonLegacy
}

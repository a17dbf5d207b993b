// Package plan decides what keysync should do with one secret. It is pure:
// the current state in Vault and the keys fetched from Azure go in, a Change
// comes out. No I/O, no clock, no logging, so every decision is table-tested.
package plan

import (
	"maps"
	"slices"
	"time"

	"github.com/keysync/keysync/secret"
)

// Metadata keys keysync records in a KV v2 secret's custom_metadata.
const (
	MetaManagedBy  = "managed-by"
	MetaResourceID = "resource-id"
	MetaAPIVersion = "api-version"
	MetaSyncedAt   = "synced-at"
	// MetaFingerprintPrefix precedes a field name, e.g. "fingerprint-primary".
	MetaFingerprintPrefix = "fingerprint-"

	// ManagedByValue marks a secret keysync owns.
	ManagedByValue = "keysync"
)

// Current is what the sink holds at a path.
type Current struct {
	// Exists is true when a live version of the secret holds data.
	Exists bool
	// Version is the KV v2 version that a write must check-and-set against:
	// the latest version, even when it is deleted; 0 when there is none and
	// always 0 on KV v1.
	Version int
	// Versioned is true on KV v2, which has metadata and check-and-set.
	Versioned bool
	// Metadata is the secret's custom_metadata (KV v2 only), foreign keys
	// included; nil when there is none.
	Metadata map[string]string
	// Data is every field at the path, foreign ones included.
	Data secret.Data
}

// Managed reports whether keysync's mark is on the secret. KV v1 has no
// metadata to carry the mark, so there every secret counts as managed.
func (c Current) Managed() bool {
	return !c.Versioned || c.Metadata[MetaManagedBy] == ManagedByValue
}

// Desired is what keysync wants at a path.
type Desired struct {
	// Fields are the keys fetched from the source.
	Fields secret.Fields
	// ResourceID and APIVersion are recorded as provenance.
	ResourceID string
	APIVersion string
	// Adopt allows taking over an existing secret keysync did not create.
	Adopt bool
	// Plain are fields that are not secrets (the active key's name): they
	// are compared and written like keys, and shown as they are.
	Plain map[string]string
	// Meta is more provenance to record (rotation times).
	Meta map[string]string
	// Rotation, when set, is the regeneration this cycle does (or would do,
	// in a dry run), for the change to show.
	Rotation string
}

// Calculate compares current with desired and returns the change to make.
// now is only written into the provenance metadata.
func Calculate(current Current, desired Desired, now time.Time) Change {
	ch := Change{Action: Unchanged, BaseVersion: current.Version}
	if current.Exists && !current.Managed() && !desired.Adopt {
		ch.Action = Refused
		ch.Reason = "secret exists and was not created by keysync (no managed-by=keysync in its custom_metadata); set adopt = true on this account to take it over"
		return ch
	}
	ch.Fields = fieldChanges(current.Data, desired.Fields)
	ch.Set = make(secret.Fields)
	for _, f := range ch.Fields {
		ch.Set[f.Name] = desired.Fields[f.Name]
	}
	for _, f := range plainChanges(current.Data, desired.Plain) {
		ch.Fields = append(ch.Fields, f)
		ch.Set[f.Name] = secret.New(f.To)
	}
	ch.Rotation = desired.Rotation
	switch {
	case !current.Exists:
		ch.Action = Create
	case len(ch.Fields) > 0:
		ch.Action = Update
	case !current.Managed():
		ch.Action = Adopt
	case current.Versioned && !provenanceMatches(current.Metadata, desired):
		ch.Action = RepairMetadata
	}
	if ch.Action != Unchanged && current.Versioned {
		ch.Metadata = provenance(current.Metadata, desired, now)
	}
	return ch
}

// fieldChanges lists, in name order, the desired fields whose values differ
// from the current ones.
func fieldChanges(current secret.Data, desired secret.Fields) []FieldChange {
	var out []FieldChange
	for _, name := range desired.Names() {
		want := desired[name]
		have, ok := current.Field(name)
		if ok && have.Equal(want) {
			continue
		}
		fc := FieldChange{Name: name, To: want.Fingerprint()}
		if ok {
			fc.From = have.Fingerprint()
		}
		out = append(out, fc)
	}
	return out
}

// plainChanges lists the plain fields whose values differ, in name order.
func plainChanges(current secret.Data, plain map[string]string) []FieldChange {
	var out []FieldChange
	for _, name := range slices.Sorted(maps.Keys(plain)) {
		have, ok := current.Field(name)
		if ok && have.Reveal() == plain[name] {
			continue
		}
		fc := FieldChange{Name: name, To: plain[name], Plain: true}
		if ok {
			fc.From = have.Reveal()
		}
		out = append(out, fc)
	}
	return out
}

// provenance returns the custom_metadata to write: the existing entries, so
// that foreign ones survive, with keysync's own set anew.
func provenance(existing map[string]string, d Desired, now time.Time) map[string]string {
	out := maps.Clone(existing)
	if out == nil {
		out = make(map[string]string)
	}
	for k, v := range ownMetadata(d) {
		out[k] = v
	}
	out[MetaSyncedAt] = now.UTC().Format(time.RFC3339)
	return out
}

// ownMetadata is the provenance keysync records for d, less the time.
func ownMetadata(d Desired) map[string]string {
	m := map[string]string{
		MetaManagedBy:  ManagedByValue,
		MetaResourceID: d.ResourceID,
		MetaAPIVersion: d.APIVersion,
	}
	for name, v := range d.Fields {
		m[MetaFingerprintPrefix+name] = v.Fingerprint()
	}
	maps.Copy(m, d.Meta)
	return m
}

// provenanceMatches reports whether the recorded metadata already describes d,
// so that a secret whose metadata write failed after its data write is
// repaired on the next run.
func provenanceMatches(existing map[string]string, d Desired) bool {
	for k, v := range ownMetadata(d) {
		if existing[k] != v {
			return false
		}
	}
	return true
}

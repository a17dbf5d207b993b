// Package plan decides what keysync should do with one secret. It is pure:
// the current state in Vault and the keys fetched from Azure go in, a Change
// comes out. No I/O, no clock, no logging, so every decision is table-tested.
package plan

import (
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/keysync/keysync/secret"
	"github.com/keysync/keysync/sinks"
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

	// FieldOwner is the one field keysync puts in the DATA of every KV v2
	// secret it writes: the resource id, lower-case, of the account it
	// wrote the secret for. KV v2 guards data/ and metadata/ with separate
	// ACL paths, so a principal that may write only metadata can copy
	// managed-by=keysync onto anyone's secret but cannot make this field:
	// a delete rests on it (see ownership.go).
	FieldOwner = "keysync-resource-id"
)

// Managed reports whether keysync's mark is on the secret. A sink without
// metadata (KV v1) cannot carry the mark, so there every secret counts as
// managed.
func Managed(s sinks.State) bool {
	return !s.Versioned || s.Metadata[MetaManagedBy] == ManagedByValue
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
	// Rotate, when set, is the account's rotation policy: the plan decides
	// from what the sink holds whether a key is regenerated this cycle.
	Rotate *Rotation
	// Tags, when not nil, are the resource's Azure tags to record in the
	// metadata (copy_tags), each as MetaTagPrefix+name; recorded tags that
	// are no longer among them are removed.
	Tags map[string]string
	// DiscoveredBy names the [[discover]] block that found the account,
	// and DiscoveryScope fingerprints what that block searches; recorded
	// as MetaDiscoveredBy and MetaDiscoveryScope, "" for a listed account.
	DiscoveredBy, DiscoveryScope string
	// Derived names the values keysync derives into the secret beside
	// Fields (spec.Spec.Name): a plan made before they are derived (a
	// rotating account's first) knows them as keysync's fields.
	Derived []string
	// Meta, when set, is more provenance to record as is: a derived
	// value's expiry and key (package derive).
	Meta map[string]string
	// RefuseLegacy treats a KV v2 secret that carries managed-by=keysync
	// but not the data mark (FieldOwner) as another's: refused without
	// Adopt ([vault] legacy_ownership = false).
	RefuseLegacy bool
}

// MetaDiscoveredBy names the [[discover]] block that found the secret's
// account; MetaDiscoveryScope fingerprints the block's query and path
// template, so that a secret is recalled as gone only by the same query
// (not by another deployment's block of the same name).
const (
	MetaDiscoveredBy   = "discovered-by"
	MetaDiscoveryScope = "discovery-scope"
)

// MetaTagPrefix precedes an Azure tag's name in the metadata.
const MetaTagPrefix = "azure-tag-"

// Vault's bounds on custom_metadata (vault-plugin-secrets-kv
// path_metadata.go: maxCustomMetadataKeys, ...KeyLength, ...ValueLength).
const (
	MaxMetadataKeys        = 64
	MaxMetadataKeyLength   = 128
	MaxMetadataValueLength = 512
)

// Calculate compares current with desired and returns the change to make.
// now is only written into the provenance metadata and the rotation record.
//
// A rotating account's change may name a key to regenerate first
// (Change.Rotation.Regenerate): the runner writes Change.Rotation.Record,
// regenerates the key, and plans again with the new keys and the record,
// which completes the rotation (Change.Rotation.Completed).
func Calculate(current sinks.State, desired Desired, now time.Time) Change {
	ch := Change{Action: Unchanged, BaseVersion: current.Version}
	if why := refusal(current, desired, now); why != "" {
		ch.Action, ch.Reason = Refused, why
		return ch
	}
	var plain, meta map[string]string
	if rp := rotationOf(current, desired, now); rp != nil {
		ch.Rotation = *rp
		plain, meta = rp.Active, rp.Meta
	}
	plain = withOwnerMark(plain, desired)
	ch.Fields = fieldChanges(current.Data, desired.Fields)
	set := make(secret.Fields, len(ch.Fields)+len(plain))
	for _, f := range ch.Fields {
		set[f.Name] = desired.Fields[f.Name]
	}
	for _, f := range plainChanges(current.Data, plain) {
		ch.Fields = append(ch.Fields, f)
		set[f.Name] = secret.New(f.To)
	}
	// Found again: the mark of a pending deletion goes.
	if v, ok := current.Data.Field(FieldGoneAt); ok || current.Data.Has(FieldGoneAt) {
		ch.Fields = append(ch.Fields, FieldChange{Name: FieldGoneAt, From: v.Reveal(), To: "(removed)", Plain: true})
	}
	ch.Action = action(current, desired, meta, len(ch.Fields) > 0)
	if ch.Action == Unchanged {
		return ch
	}
	ch.Write = sinks.Write{BaseVersion: current.Version, Create: ch.Action == Create}
	if ch.WritesData() {
		ch.Write.Data = current.Data.With(set).Without(FieldGoneAt)
	}
	if current.Versioned {
		ch.Write.Metadata = provenance(current.Metadata, desired, meta, now)
	}
	return ch
}

// action names what a change does, given whether any field changes.
func action(current sinks.State, desired Desired, meta map[string]string, fieldsChange bool) Action {
	switch {
	case !current.Exists:
		return Create
	case fieldsChange:
		return Update
	case !Managed(current) && ownerOf(current, desired.ResourceID, desired.Fields.Names(), written(desired)) == ownerCutShort:
		return RepairMetadata
	case !Managed(current):
		return Adopt
	case current.Versioned && !provenanceMatches(current.Metadata, desired, meta):
		return RepairMetadata
	}
	return Unchanged
}

// rotationOf is the rotation the policy decides this cycle; nil for an
// account that does not rotate.
func rotationOf(current sinks.State, d Desired, now time.Time) *RotationPlan {
	if d.Rotate == nil {
		return nil
	}
	rp := decideRotation(current, d.Fields, *d.Rotate, now)
	return &rp
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
func provenance(existing map[string]string, d Desired, extra map[string]string, now time.Time) map[string]string {
	out := maps.Clone(existing)
	if out == nil {
		out = make(map[string]string)
	}
	if d.Tags != nil {
		for k := range out {
			if strings.HasPrefix(k, MetaTagPrefix) {
				delete(out, k)
			}
		}
	}
	delete(out, MetaSourceGone)
	delete(out, MetaRotationPending)
	for k, v := range ownMetadata(d, extra) {
		out[k] = v
	}
	out[MetaSyncedAt] = now.UTC().Format(time.RFC3339)
	return out
}

// ownMetadata is the provenance keysync records for d and extra (the
// rotation record), less the time.
func ownMetadata(d Desired, extra map[string]string) map[string]string {
	m := map[string]string{
		MetaManagedBy:  ManagedByValue,
		MetaResourceID: d.ResourceID,
		MetaAPIVersion: d.APIVersion,
	}
	for name, v := range d.Fields {
		m[MetaFingerprintPrefix+name] = v.Fingerprint()
	}
	maps.Copy(m, extra)
	maps.Copy(m, d.Meta)
	if d.DiscoveredBy != "" {
		m[MetaDiscoveredBy], m[MetaDiscoveryScope] = d.DiscoveredBy, d.DiscoveryScope
	}
	for k, v := range d.Tags {
		m[MetaTagPrefix+k] = v
	}
	return m
}

// provenanceMatches reports whether the recorded metadata already describes d,
// so that a secret whose metadata write failed after its data write is
// repaired on the next run.
func provenanceMatches(existing map[string]string, d Desired, extra map[string]string) bool {
	own := ownMetadata(d, extra)
	for k, v := range own {
		if existing[k] != v {
			return false
		}
	}
	if _, gone := existing[MetaSourceGone]; gone {
		return false
	}
	if _, rec := existing[MetaRotationPending]; rec && own[MetaRotationPending] == "" {
		return false
	}
	for k := range existing {
		if _, ok := own[k]; !ok && d.Tags != nil && strings.HasPrefix(k, MetaTagPrefix) {
			return false
		}
	}
	return true
}

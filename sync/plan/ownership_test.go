package plan

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/keysync/keysync/secret"
	"github.com/keysync/keysync/sinks"
)

const otherMark = "/subscriptions/s/resourcegroups/rg/providers/microsoft.batch/batchaccounts/other"

// TestOwnershipOfWrites: who may make keysync write a secret. A data mark
// of another account refuses even with adopt; a legacy secret (metadata
// mark, no data mark) is written and gets the mark, unless legacy
// ownership is off; a marked, equal secret writes nothing.
// deletedV2 is a KV v2 secret whose current version (version) is deleted,
// destroyed or expired, or metadata without a version when version is 0.
func deletedV2(version int, meta map[string]string) sinks.State {
	return sinks.State{Versioned: true, Version: version, Metadata: meta}
}

func TestOwnershipOfWrites(t *testing.T) {
	d := desired(keyA, keyB)
	meta := managedMeta(d, nil)
	equal := map[string]any{"primary": keyA, "secondary": keyB}
	with := func(m map[string]any, k string, v any) map[string]any { m = maps.Clone(m); m[k] = v; return m }
	strict := d
	strict.RefuseLegacy = true
	clash := desired(keyA, keyB)
	clash.Fields[FieldOwner] = secret.New(keyC)
	v1 := sinks.State{Exists: true, Data: secret.NewData(with(equal, FieldOwner, otherMark))}
	tests := []struct {
		name    string
		cur     sinks.State
		d       Desired
		action  Action
		fields  string
		because string
	}{
		{"marked and equal writes nothing", v2(3, equal, meta), d, Unchanged, "", ""},
		{"a mark differing only in case is ours", v2(3, with(equal, FieldOwner, strings.ToUpper(ownMark)), meta), d, Update, FieldOwner, ""},
		{"another account's mark is refused", v2(3, with(equal, FieldOwner, otherMark), meta), d, Refused, "", "names another resource"},
		{"another account's mark is refused with adopt", v2(3, with(equal, FieldOwner, otherMark), nil), withAdopt(d), Refused, "", "adopt does not change this"},
		{"a mark that is not a string is another's", v2(3, with(equal, FieldOwner, 7), meta), withAdopt(d), Refused, "", "names another resource"},
		{"legacy secret gets the mark", legacyV2(3, with(equal, "theirs", "x"), meta), d, Update, FieldOwner, ""},
		{"legacy secret refused when legacy ownership is off", legacyV2(3, equal, meta), strict, Refused, "", "legacy_ownership = false"},
		{"legacy secret adopted when legacy ownership is off", legacyV2(3, equal, meta), withAdopt(strict), Update, FieldOwner, ""},
		{"our data mark without the metadata mark is refused", v2(3, with(equal, FieldOwner, ownMark), nil), d, Refused, "", "adopt = true"},
		{"a keys answer with the mark's name is refused", v2(0, nil, nil), clash, Refused, "", "ownership mark"},
		{"KV v1: another account's data mark is refused", v1, d, Refused, "", "names another resource"},
		{"KV v1: no metadata to check, our data mark or none is ours", sinks.State{Exists: true, Data: secret.NewData(with(equal, FieldOwner, ownMark))}, d, Unchanged, "", ""},
		// A writer of the metadata alone cannot read the data, but can
		// fingerprint a value it guesses ("true"): that is no proof.
		{"a guessed fingerprint of a short value is no proof", legacyV2(1, map[string]any{"primary": "team-b-password", "enabled": "true"},
			map[string]string{MetaManagedBy: ManagedByValue, MetaFingerprintPrefix + "enabled": secret.New("true").Fingerprint()}), d, Refused, "", "neither keysync's data mark"},
		{"the fingerprints of some of the account's fields are no proof", legacyV2(1, equal,
			map[string]string{MetaManagedBy: ManagedByValue, MetaFingerprintPrefix + "primary": secret.New(keyA).Fingerprint()}), d, Refused, "", "neither keysync's data mark"},
		// A deleted or expired current version (delete_version_after, which
		// a writer of the metadata alone may set) shows nothing of whose it
		// is: refused, whatever its metadata says, unless adopt.
		{"a deleted current version is refused", deletedV2(3, nil), d, Refused, "", "deleted or expired"},
		{"a deleted current version with a forged mark is refused", deletedV2(3, meta), d, Refused, "", "deleted or expired"},
		{"a deleted current version is taken with adopt", deletedV2(3, nil), withAdopt(d), Create, "primary,secondary," + FieldOwner, ""},
		{"metadata without any version is no secret", deletedV2(0, meta), d, Create, "primary,secondary," + FieldOwner, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := Calculate(tt.cur, tt.d, now)
			if ch.Action != tt.action || strings.Join(fieldNames(ch), ",") != tt.fields {
				t.Fatalf("%v %v (%s), want %v %s", ch.Action, fieldNames(ch), ch.Reason, tt.action, tt.fields)
			}
			if !strings.Contains(ch.Reason, tt.because) {
				t.Fatalf("reason %q lacks %q", ch.Reason, tt.because)
			}
			if tt.action == Refused && (ch.Write.WritesData() || ch.Write.Metadata != nil) {
				t.Fatalf("a refusal writes %+v", ch.Write)
			}
			if ch.WritesData() {
				checkWrite(t, ch, tt.cur, tt.d)
			}
		})
	}
}

// TestFieldsTableKeepsTheMark: a fields table selects and renames the
// keys; the data mark is written beside them, and a second run with the
// same keys writes nothing.
func TestFieldsTableKeepsTheMark(t *testing.T) {
	d := desired(keyA, keyB)
	d.Fields = secret.Fields{"readonly_key": secret.New(keyA)}
	ch := Calculate(v2(0, nil, nil), d, now)
	if got := ch.Write.Data.Names(); strings.Join(got, ",") != "keysync-resource-id,readonly_key" {
		t.Fatalf("write holds %v", got)
	}
	after := v2(1, ch.Write.Data.Reveal(), ch.Write.Metadata)
	if ch := Calculate(after, d, now); ch.Action != Unchanged {
		t.Fatalf("second run: %v %v", ch.Action, fieldNames(ch))
	}
}

// TestRemovalNeedsProof: on_removed = "delete" deletes only a secret whose
// metadata says keysync and whose data names the account gone. A mark
// copied into the metadata by someone who cannot write the data (a legacy
// secret looks the same) is marked, never deleted; another account's data
// mark, or ours without the metadata mark, is left alone.
func TestRemovalNeedsProof(t *testing.T) {
	id := desired(keyA, keyB).ResourceID
	meta := managedMeta(desired(keyA, keyB), nil)
	data := map[string]any{"team-password": "x"}
	withMark := func(v any) map[string]any { m := maps.Clone(data); m[FieldOwner] = v; return m }
	// Marked gone long enough ago: a provable secret is due for deletion.
	due := func(m map[string]any) map[string]any {
		m = maps.Clone(m)
		m[FieldGoneAt] = stamp(now.Add(-8 * 24 * time.Hour))
		return m
	}
	// What a keysync without data marks wrote: the keys its metadata
	// fingerprints, beside a foreign field.
	legacy := map[string]any{"primary": keyA, "secondary": keyB, "team-password": "x"}
	tests := []struct {
		name    string
		cur     sinks.State
		strict  bool // legacy_ownership = false
		action  Action
		because string
	}{
		{"proven: both marks", legacyV2(3, due(withMark(ownMark)), meta), false, Delete, ""},
		{"proven: the mark compares without case", legacyV2(3, due(withMark(strings.ToUpper(ownMark))), meta), false, Delete, ""},
		{"proven, not yet marked: the time in the data first", legacyV2(3, withMark(ownMark), meta), false, Mark, ""},
		{"legacy: marked in the data, which gets the data mark", legacyV2(3, legacy, meta), false, Mark, ""},
		{"legacy under legacy_ownership = false: the metadata only", legacyV2(3, legacy, meta), true, Mark, "lacks " + FieldOwner},
		{"a time in the data without the data mark", legacyV2(3, due(legacy), meta), false, Refused, "not deleted"},
		{"forged: metadata mark whose fingerprints miss the data", legacyV2(3, data, meta), false, Refused, "neither keysync's data mark"},
		{"forged: fingerprints of another secret's keys", legacyV2(3, map[string]any{"primary": keyC, "secondary": keyB}, meta), false, Refused, "neither keysync's data mark"},
		{"metadata without data: nothing proves it", legacyV2(3, nil, meta), false, Refused, "neither keysync's data mark"},
		{"forged: a guessed fingerprint of a short value", legacyV2(3, map[string]any{"enabled": "true"},
			map[string]string{MetaManagedBy: ManagedByValue, MetaFingerprintPrefix + "enabled": secret.New("true").Fingerprint()}), false, Refused, "neither keysync's data mark"},
		{"another account's data mark", legacyV2(3, due(withMark(otherMark)), meta), false, Refused, "names another resource"},
		{"a data mark that is not a string", legacyV2(3, due(withMark(true)), meta), false, Refused, "names another resource"},
		{"our data mark without the metadata mark", legacyV2(3, due(withMark(ownMark)), map[string]string{"team": "x"}), false, Refused, "not created by keysync"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := Removal(tt.cur, Gone{Policy: RemoveDelete, ResourceID: id, DeleteAfter: 7 * 24 * time.Hour, RefuseLegacy: tt.strict}, now)
			if ch.Action != tt.action || !strings.Contains(ch.Reason, tt.because) {
				t.Fatalf("%v (%q), want %v because %q", ch.Action, ch.Reason, tt.action, tt.because)
			}
			if ch.Write.Delete != (tt.action == Delete) || ch.Write.WritesData() != (tt.action == Mark && !tt.strict) {
				t.Fatalf("write %+v", ch.Write)
			}
			if tt.action == Mark && tt.because != "" && !strings.Contains(ch.Describe(), "not deleted") {
				t.Fatalf("the report does not say why: %q", ch.Describe())
			}
		})
	}
}

// TestCutShortOlderThanARotationIsRefused: a create cut short is
// repaired at the account's next sync; on a rotating account, a version
// 1 older than rotate_every is not one (a writer of the data could have
// planted it long ago to have a key regenerated at keysync's first sync):
// refused, unless adopt.
func TestCutShortOlderThanARotationIsRefused(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name  string
		age   time.Duration
		adopt bool
		want  Action
	}{
		{"young", time.Minute, false, RepairMetadata},
		{"older than rotate_every", 2 * time.Hour, false, Refused},
		{"older, adopt", 2 * time.Hour, true, Refused}, // want: anything but
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := desired(keyA, keyB)
			d.Rotate, d.Adopt = &Rotation{Every: time.Hour}, tt.adopt
			cur := sinks.State{Versioned: true, Exists: true, Version: 1, Created: now.Add(-tt.age),
				Data: secret.NewData(map[string]any{"primary": keyA, "secondary": keyB, FieldActive: "primary", FieldOwner: strings.ToLower(d.ResourceID)})}
			ch := Calculate(cur, d, now)
			if tt.adopt == (ch.Action == tt.want) {
				t.Fatalf("action %v (%s); want %v (adopt: anything but)", ch.Action, ch.Reason, tt.want)
			}
		})
	}
}

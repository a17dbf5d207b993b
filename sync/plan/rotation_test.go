package plan

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/keysync/keysync/secret"
	"github.com/keysync/keysync/sinks"
)

// at is a stamp d before now.
func at(d time.Duration) string { return stamp(now.Add(-d)) }

const day = 24 * time.Hour

func TestDecideRotation(t *testing.T) {
	p := Rotation{Every: 30 * day, Grace: day}
	held := func(active string, meta map[string]string) sinks.State {
		return v2(3, map[string]any{"primary": keyA, "secondary": keyB, FieldActive: active}, meta)
	}
	same := secret.Fields{"primary": secret.New(keyA), "secondary": secret.New(keyB)}
	newSecondary := secret.Fields{"primary": secret.New(keyA), "secondary": secret.New(keyC)}
	over := map[string]string{MetaRotatedAt: at(31 * day)}
	tests := []struct {
		name          string
		current       sinks.State
		fields        secret.Fields
		regen, active string
		completed     string
		rotatedAt     string
		keepsRecord   bool
	}{
		{"new secret: baseline, no regeneration", v2(0, nil, nil), same, "", "primary", "", stamp(now), false},
		{"no rotation record yet: baseline", held("primary", nil), same, "", "primary", "", stamp(now), false},
		{"a foreign active value counts as the first key", held("tertiary", nil), same, "", "primary", "", stamp(now), false},
		{"within the period: nothing", held("primary", map[string]string{MetaRotatedAt: at(10 * day)}), same, "", "primary", "", at(10 * day), false},
		{"period over: regenerate the inactive key", held("primary", over), same, "secondary", "secondary", "", stamp(now), false},
		{"and back", held("secondary", over), same, "primary", "primary", "", stamp(now), false},
		{"the same key within its grace: nothing", held("primary", with(over, MetaRotatedPrefix+"secondary-at", at(time.Hour))), same, "", "primary", "", at(31 * day), false},
		{"a record whose key changed completes; the period counts from now",
			held("primary", with(over, MetaRotationPending, "secondary "+at(time.Minute))), newSecondary, "", "secondary", "secondary", stamp(now), false},
		{"a record whose key did not change holds that key back for the grace",
			held("primary", with(over, MetaRotationPending, "secondary "+at(time.Minute))), same, "", "primary", "", at(31 * day), true},
		{"a record older than the grace is dropped and the key regenerated",
			held("primary", with(over, MetaRotationPending, "secondary "+at(2*day))), same, "secondary", "secondary", "", stamp(now), false},
		{"a record of no key of the pair is ignored",
			held("primary", with(over, MetaRotationPending, "tertiary "+at(time.Minute))), newSecondary, "secondary", "secondary", "", stamp(now), false},
		// The data write landed (the new key, active naming it) and the
		// metadata write after it did not: the record and the old
		// rotated-at stay. The rotation is done; regenerating the other
		// key now would pull the key consumers used until a moment ago.
		{"a record whose key Vault already names active completes, regenerating nothing",
			held("secondary", with(over, MetaRotationPending, "secondary "+at(time.Minute))), same, "", "secondary", "secondary", stamp(now), false},
		{"and so does one older than the grace",
			held("secondary", with(over, MetaRotationPending, "secondary "+at(2*day))), same, "", "secondary", "secondary", stamp(now), false},
		{"a record that does not parse is ignored",
			held("primary", with(over, MetaRotationPending, "secondary yesterday")), newSecondary, "secondary", "secondary", "", stamp(now), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rp := decideRotation(tt.current, tt.fields, p, now)
			if rp.Regenerate != tt.regen || rp.Active[FieldActive] != tt.active || rp.Completed != tt.completed {
				t.Fatalf("regenerate %q active %q completed %q", rp.Regenerate, rp.Active, rp.Completed)
			}
			if rp.Meta[MetaRotatedAt] != tt.rotatedAt {
				t.Fatalf("rotated-at %q, want %q", rp.Meta[MetaRotatedAt], tt.rotatedAt)
			}
			if _, kept := rp.Meta[MetaRotationPending]; kept != tt.keepsRecord {
				t.Fatalf("record kept %t", kept)
			}
			checkRecord(t, rp, tt.current)
		})
	}
}

// checkRecord: a plan that regenerates carries the record to write first,
// the held metadata plus the key and the time, and the per-key stamp.
func checkRecord(t *testing.T, rp RotationPlan, cur sinks.State) {
	t.Helper()
	if rp.Regenerate == "" {
		if rp.Record != nil {
			t.Fatal("a record without a regeneration")
		}
		return
	}
	if rp.Record[MetaRotationPending] != rp.Regenerate+" "+stamp(now) || rp.Record[MetaRotatedAt] != cur.Metadata[MetaRotatedAt] {
		t.Fatalf("record %v", rp.Record)
	}
	if rp.Meta[keyAt(rp.Regenerate)] != stamp(now) {
		t.Fatal("no per-key stamp")
	}
}

func with(m map[string]string, k, v string) map[string]string {
	out := maps.Clone(m)
	out[k] = v
	return out
}

// TestTwoPairsRotateOneKeyPerSync: Cosmos DB's read-write and read-only
// pairs each have their own active field and record; when both are due,
// one sync regenerates one key, of the pair rotated longest ago (the
// first on a tie), and the next sync the other's.
func TestTwoPairsRotateOneKeyPerSync(t *testing.T) {
	rw := Pair{Active: FieldActive, Keys: [2]string{"primaryMasterKey", "secondaryMasterKey"}}
	ro := Pair{Active: FieldActive + "-readonly", Keys: [2]string{"primaryReadonlyMasterKey", "secondaryReadonlyMasterKey"}}
	p := Rotation{Every: day, Grace: time.Hour, Pairs: []Pair{rw, ro}}
	data := map[string]any{"primaryMasterKey": keyA, "secondaryMasterKey": keyB, "primaryReadonlyMasterKey": keyB, "secondaryReadonlyMasterKey": keyC}
	fields := secret.Fields{}
	for k, v := range data {
		fields[k] = secret.New(v.(string))
	}
	rp := decideRotation(v2(0, nil, nil), fields, p, now)
	if rp.Regenerate != "" || rp.Active[FieldActive] != "primaryMasterKey" || rp.Active["active-readonly"] != "primaryReadonlyMasterKey" ||
		rp.Meta[MetaRotatedAt] != stamp(now) || rp.Meta["rotated-readonly-at"] != stamp(now) {
		t.Fatalf("baseline %+v", rp)
	}
	meta := map[string]string{MetaRotatedAt: at(2 * day), "rotated-readonly-at": at(2 * day)}
	rp = decideRotation(v2(1, data, meta), fields, p, now)
	if rp.Regenerate != "secondaryMasterKey" || rp.Active["active-readonly"] != "primaryReadonlyMasterKey" || rp.Meta["rotated-readonly-at"] != at(2*day) {
		t.Fatalf("first due sync %+v", rp)
	}
	meta[MetaRotatedAt] = stamp(now)
	rp = decideRotation(v2(2, with2(data, FieldActive, "secondaryMasterKey"), meta), fields, p, now)
	if rp.Regenerate != "secondaryReadonlyMasterKey" || rp.Active[FieldActive] != "secondaryMasterKey" || rp.Meta["rotated-readonly-at"] != stamp(now) {
		t.Fatalf("next sync %+v", rp)
	}
	// Both due again, the read-write pair rotated more recently: the
	// read-only pair goes first, so that syncs rarer than the period do
	// not starve it.
	meta = map[string]string{MetaRotatedAt: at(3 * day), "rotated-readonly-at": at(4 * day)}
	if rp = decideRotation(v2(3, data, meta), fields, p, now); rp.Regenerate != "secondaryReadonlyMasterKey" {
		t.Fatalf("the pair rotated longest ago waits: %+v", rp)
	}
}

// TestRecordHoldsTheOtherPair: a record one regenerate left unresolved
// (a timeout: the key may yet change) holds the other pair back too for
// its grace. A regenerate of the other pair would replace the record
// with its own, and a late landing of the first could then not be
// completed: its key would be regenerated again.
func TestRecordHoldsTheOtherPair(t *testing.T) {
	rw := Pair{Active: FieldActive, Keys: [2]string{"primaryMasterKey", "secondaryMasterKey"}}
	ro := Pair{Active: FieldActive + "-readonly", Keys: [2]string{"primaryReadonlyMasterKey", "secondaryReadonlyMasterKey"}}
	p := Rotation{Every: day, Grace: time.Hour, Pairs: []Pair{rw, ro}}
	data := map[string]any{"primaryMasterKey": keyA, "secondaryMasterKey": keyB, "primaryReadonlyMasterKey": keyB, "secondaryReadonlyMasterKey": keyC}
	fields := secret.Fields{}
	for k, v := range data {
		fields[k] = secret.New(v.(string))
	}
	rec := "secondaryMasterKey " + at(time.Minute)
	meta := map[string]string{MetaRotatedAt: at(2 * day), "rotated-readonly-at": at(2 * day), MetaRotationPending: rec}
	rp := decideRotation(v2(1, data, meta), fields, p, now)
	if rp.Regenerate != "" || rp.Meta[MetaRotationPending] != rec {
		t.Fatalf("regenerated %q, record %q: want nothing, the record kept", rp.Regenerate, rp.Meta[MetaRotationPending])
	}
	meta[MetaRotationPending] = "secondaryMasterKey " + at(2*time.Hour)
	if rp = decideRotation(v2(1, data, meta), fields, p, now); rp.Regenerate == "" {
		t.Fatal("a record past its grace still holds the pairs back")
	}
}

func with2(m map[string]any, k string, v any) map[string]any {
	out := maps.Clone(m)
	out[k] = v
	return out
}

// TestRotationIsAPlanDecision: a rotating account whose period is over
// gets a change that names the key to regenerate, the active key after,
// and the record to write before.
func TestRotationIsAPlanDecision(t *testing.T) {
	d := desired(keyA, keyB)
	d.Rotate = &Rotation{Every: time.Hour}
	cur := v2(1, map[string]any{"primary": keyA, "secondary": keyC, FieldActive: "primary"},
		managedMeta(d, map[string]string{MetaRotatedAt: now.Add(-2 * time.Hour).Format(time.RFC3339)}))
	ch := Calculate(cur, d, now)
	want := "rotate: regenerate secondary, secondary: " + secret.New(keyC).Fingerprint() + " -> " + secret.New(keyB).Fingerprint() + ", active: primary -> secondary"
	if ch.Action != Update || ch.Describe() != want || ch.Rotation.Regenerate != "secondary" {
		t.Fatalf("%v %q\nwant %q", ch.Action, ch.Describe(), want)
	}
	if v, _ := ch.Write.Data.Field(FieldActive); v.Reveal() != "secondary" {
		t.Fatal("active not written")
	}
	if ch.Write.Metadata[MetaRotatedPrefix+"secondary-at"] != stamp(now) {
		t.Fatalf("rotation not recorded: %v", ch.Write.Metadata)
	}
	if ch.Rotation.Record[MetaRotationPending] != "secondary "+stamp(now) || ch.Rotation.Record[MetaManagedBy] != ManagedByValue {
		t.Fatalf("record %v", ch.Rotation.Record)
	}
}

// TestRecordedRotationCompletes: the plan after a regeneration (the record
// in the metadata, the key changed in the answer) writes the new key and
// the active field, stamps the key with the record's time and the pair's
// period from now, drops the record, and regenerates nothing, whatever the
// policy would say now.
func TestRecordedRotationCompletes(t *testing.T) {
	d := desired(keyA, keyB)
	d.Rotate = &Rotation{Every: time.Hour, Grace: time.Hour}
	meta := managedMeta(desired(keyA, keyC), map[string]string{MetaRotatedAt: at(2 * time.Hour),
		MetaRotationPending: "secondary " + at(time.Minute)})
	cur := v2(1, map[string]any{"primary": keyA, "secondary": keyC, FieldActive: "primary"}, meta)
	ch := Calculate(cur, d, now)
	if ch.Rotation.Regenerate != "" || ch.Rotation.Completed != "secondary" || ch.Action != Update ||
		!strings.HasPrefix(ch.Describe(), "rotate: complete the recorded regeneration of secondary, ") {
		t.Fatalf("%v, regenerate %q, completed %q: %q", ch.Action, ch.Rotation.Regenerate, ch.Rotation.Completed, ch.Describe())
	}
	m := ch.Write.Metadata
	if m[MetaRotatedAt] != stamp(now) || m[MetaRotatedPrefix+"secondary-at"] != at(time.Minute) {
		t.Fatalf("stamps %v, want the period from now and the key at the record's time", m)
	}
	if _, left := m[MetaRotationPending]; left {
		t.Fatal("the record outlived its completion")
	}
	if v, _ := ch.Write.Data.Field(FieldActive); v.Reveal() != "secondary" {
		t.Fatal("active not written")
	}
}

// TestLeftoverRecordIsRepaired: a record that no longer holds anything
// back (its grace over, the period not due) is removed from the metadata.
func TestLeftoverRecordIsRepaired(t *testing.T) {
	d := desired(keyA, keyB)
	d.Rotate = &Rotation{Every: 30 * day, Grace: time.Hour}
	rot := map[string]string{MetaRotatedAt: at(day)}
	meta := managedMeta(d, with(rot, MetaRotationPending, "secondary "+at(2*time.Hour)))
	cur := v2(1, map[string]any{"primary": keyA, "secondary": keyB, FieldActive: "primary"}, meta)
	ch := Calculate(cur, d, now)
	if _, left := ch.Write.Metadata[MetaRotationPending]; ch.Action != RepairMetadata || left {
		t.Fatalf("%v, metadata %v", ch.Action, ch.Write.Metadata)
	}
}

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
	p := Rotation{Every: 30 * day, Grace: day, InFlight: time.Hour}
	// held is a secret naming active, with meta, whose live version was
	// written age ago.
	held := func(active string, meta map[string]string, age time.Duration) sinks.State {
		return aged(v2(3, map[string]any{"primary": keyA, "secondary": keyB, FieldActive: active}, meta), age)
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
		problems      int
	}{
		{"new secret: baseline, no regeneration", v2(0, nil, nil), same, "", "primary", "", stamp(now), false, 0},
		{"no rotation record yet: baseline at the live version's time", held("primary", nil, 10*day), same, "", "primary", "", at(10 * day), false, 0},
		{"a foreign active value counts as the first key", held("tertiary", nil, 10*day), same, "", "primary", "", at(10 * day), false, 0},
		{"within the period: nothing", held("primary", map[string]string{MetaRotatedAt: at(10 * day)}, 10*day), same, "", "primary", "", at(10 * day), false, 0},
		{"period over: regenerate the inactive key", held("primary", over, 31*day), same, "secondary", "secondary", "", stamp(now), false, 0},
		{"and back", held("secondary", over, 31*day), same, "primary", "primary", "", stamp(now), false, 0},
		{"the same key within its grace: nothing", held("primary", with(over, MetaRotatedPrefix+"secondary-at", at(time.Hour)), time.Hour), same, "", "primary", "", at(31 * day), false, 0},
		{"a record whose key changed completes; the period counts from now",
			held("primary", with(over, MetaRotationPending, "secondary "+at(time.Minute)), 31*day), newSecondary, "", "secondary", "secondary", stamp(now), false, 0},
		{"a record whose key did not change holds every pair while the regenerate may land",
			held("primary", with(over, MetaRotationPending, "secondary "+at(time.Minute)), 31*day), same, "", "primary", "", at(31 * day), true, 0},
		{"a record older than a regenerate can run is ignored and the key regenerated",
			held("primary", with(over, MetaRotationPending, "secondary "+at(2*time.Hour)), 31*day), same, "secondary", "secondary", "", stamp(now), false, 1},
		{"a record of no key of the pair is ignored",
			held("primary", with(over, MetaRotationPending, "tertiary "+at(time.Minute)), 31*day), newSecondary, "secondary", "secondary", "", stamp(now), false, 1},
		// The data write landed (the new key, active naming it) and the
		// metadata write after it did not: the record and the old
		// rotated-at stay. The rotation is done; regenerating the other
		// key now would pull the key consumers used until a moment ago.
		{"a record whose key Vault already names active completes, regenerating nothing",
			held("secondary", with(over, MetaRotationPending, "secondary "+at(time.Minute)), 30*time.Second), same, "", "secondary", "secondary", at(30 * time.Second), false, 0},
		{"and so does one found days later; the period counts from the version",
			held("secondary", with(over, MetaRotationPending, "secondary "+at(2*day)), 2*day-time.Minute), same, "", "secondary", "secondary", at(2*day - time.Minute), false, 0},
		{"a record that does not parse is ignored",
			held("primary", with(over, MetaRotationPending, "secondary yesterday"), 31*day), newSecondary, "secondary", "secondary", "", stamp(now), false, 1},
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
			if _, kept := rp.Meta[MetaRotationPending]; kept != tt.keepsRecord || (rp.Held != "") != tt.keepsRecord {
				t.Fatalf("record kept %t, held %q", kept, rp.Held)
			}
			if len(rp.Problems) != tt.problems {
				t.Fatalf("problems %q, want %d", rp.Problems, tt.problems)
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
// pairs each have their own active field and record; one sync regenerates
// one key, and the pairs take turns, as the data says: the read-write pair
// first, then the read-only one once the version the first rotation wrote
// is a period old.
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
	data[FieldActive], data["active-readonly"] = "primaryMasterKey", "primaryReadonlyMasterKey"
	meta := map[string]string{MetaRotatedAt: at(2 * day), "rotated-readonly-at": at(2 * day)}
	rp = decideRotation(aged(v2(1, data, meta), 2*day), fields, p, now)
	if rp.Regenerate != "secondaryMasterKey" || rp.Active["active-readonly"] != "primaryReadonlyMasterKey" || rp.Meta["rotated-readonly-at"] != at(2*day) {
		t.Fatalf("first due sync %+v", rp)
	}
	meta[MetaRotatedAt] = stamp(now)
	moved := with2(data, FieldActive, "secondaryMasterKey")
	if rp = decideRotation(aged(v2(2, moved, meta), 0), fields, p, now); rp.Regenerate != "" {
		t.Fatalf("the next sync, on the version the rotation just wrote, regenerated %q", rp.Regenerate)
	}
	rp = decideRotation(aged(v2(2, moved, meta), day), fields, p, now.Add(day))
	if rp.Regenerate != "secondaryReadonlyMasterKey" || rp.Active[FieldActive] != "secondaryMasterKey" || rp.Meta["rotated-readonly-at"] != stamp(now.Add(day)) {
		t.Fatalf("a period later %+v", rp)
	}
}

// TestPairsTakeTurnsByTheData: which pair rotates is read from the active
// fields, not from the stamps a writer of the metadata could set: stamps
// that make one pair look rotated long ago do not let it starve the other.
func TestPairsTakeTurnsByTheData(t *testing.T) {
	rw := Pair{Active: FieldActive, Keys: [2]string{"primaryMasterKey", "secondaryMasterKey"}}
	ro := Pair{Active: FieldActive + "-readonly", Keys: [2]string{"primaryReadonlyMasterKey", "secondaryReadonlyMasterKey"}}
	p := Rotation{Every: day, Grace: time.Hour, Pairs: []Pair{rw, ro}}
	fields := secret.Fields{"primaryMasterKey": secret.New(keyA), "secondaryMasterKey": secret.New(keyB),
		"primaryReadonlyMasterKey": secret.New(keyB), "secondaryReadonlyMasterKey": secret.New(keyC)}
	forged := map[string]string{MetaRotatedAt: stamp(time.Unix(0, 0)), "rotated-readonly-at": at(2 * day)}
	tests := []struct{ rwActive, roActive, want string }{
		{"primaryMasterKey", "primaryReadonlyMasterKey", "secondaryMasterKey"},
		{"secondaryMasterKey", "primaryReadonlyMasterKey", "secondaryReadonlyMasterKey"},
		{"secondaryMasterKey", "secondaryReadonlyMasterKey", "primaryMasterKey"},
		{"primaryMasterKey", "secondaryReadonlyMasterKey", "primaryReadonlyMasterKey"},
	}
	for _, tt := range tests {
		t.Run(tt.rwActive+"+"+tt.roActive, func(t *testing.T) {
			data := map[string]any{FieldActive: tt.rwActive, "active-readonly": tt.roActive}
			for k, v := range fields {
				data[k] = v.Reveal()
			}
			if rp := decideRotation(aged(v2(5, data, forged), 2*day), fields, p, now); rp.Regenerate != tt.want {
				t.Fatalf("regenerated %q, want %q", rp.Regenerate, tt.want)
			}
		})
	}
}

// TestRecordHoldsTheOtherPair: a record one regenerate left unresolved
// (a timeout: the key may yet change) holds the other pair back too while
// that regenerate may land. A regenerate of the other pair would replace
// the record with its own, and a late landing of the first could then not
// be completed: its key would be regenerated again.
func TestRecordHoldsTheOtherPair(t *testing.T) {
	rw := Pair{Active: FieldActive, Keys: [2]string{"primaryMasterKey", "secondaryMasterKey"}}
	ro := Pair{Active: FieldActive + "-readonly", Keys: [2]string{"primaryReadonlyMasterKey", "secondaryReadonlyMasterKey"}}
	p := Rotation{Every: day, Grace: time.Hour, InFlight: time.Hour, Pairs: []Pair{rw, ro}}
	data := map[string]any{"primaryMasterKey": keyA, "secondaryMasterKey": keyB, "primaryReadonlyMasterKey": keyB, "secondaryReadonlyMasterKey": keyC,
		FieldActive: "primaryMasterKey", "active-readonly": "secondaryReadonlyMasterKey"}
	fields := secret.Fields{}
	for k, v := range data {
		fields[k] = secret.New(v.(string))
	}
	rec := "secondaryMasterKey " + at(time.Minute)
	meta := map[string]string{MetaRotatedAt: at(2 * day), "rotated-readonly-at": at(2 * day), MetaRotationPending: rec}
	rp := decideRotation(aged(v2(1, data, meta), 2*day), fields, p, now)
	if rp.Regenerate != "" || rp.Meta[MetaRotationPending] != rec || rp.Held != "secondaryMasterKey" {
		t.Fatalf("regenerated %q, record %q, held %q: want nothing, the record kept", rp.Regenerate, rp.Meta[MetaRotationPending], rp.Held)
	}
	meta[MetaRotationPending] = "secondaryMasterKey " + at(2*time.Hour)
	if rp = decideRotation(aged(v2(1, data, meta), 2*day), fields, p, now); rp.Regenerate == "" || rp.Held != "" {
		t.Fatal("a record older than a regenerate can run still holds the pairs back")
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
	cur := aged(v2(1, map[string]any{"primary": keyA, "secondary": keyC, FieldActive: "primary"},
		managedMeta(d, map[string]string{MetaRotatedAt: now.Add(-2 * time.Hour).Format(time.RFC3339)})), 2*time.Hour)
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
// back (older than a regenerate can run, the period not due) is removed
// from the metadata.
func TestLeftoverRecordIsRepaired(t *testing.T) {
	d := desired(keyA, keyB)
	d.Rotate = &Rotation{Every: 30 * day, Grace: time.Hour, InFlight: time.Hour}
	rot := map[string]string{MetaRotatedAt: at(day)}
	meta := managedMeta(d, with(rot, MetaRotationPending, "secondary "+at(2*time.Hour)))
	cur := aged(v2(1, map[string]any{"primary": keyA, "secondary": keyB, FieldActive: "primary"}, meta), day)
	ch := Calculate(cur, d, now)
	if _, left := ch.Write.Metadata[MetaRotationPending]; ch.Action != RepairMetadata || left {
		t.Fatalf("%v, metadata %v", ch.Action, ch.Write.Metadata)
	}
}

package plan

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/keysync/keysync/secret"
	"github.com/keysync/keysync/sinks"
)

var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

const (
	keyA = "AAAAkeyAAAAkeyAAAAkeyAAAAkeyAAAAkeyAAAAkeyAAAAkey=="
	keyB = "BBBBkeyBBBBkeyBBBBkeyBBBBkeyBBBBkeyBBBBkeyBBBBkey=="
	keyC = "CCCCkeyCCCCkeyCCCCkeyCCCCkeyCCCCkeyCCCCkeyCCCCkey=="
)

func desired(primary, secondary string) Desired {
	return Desired{
		Fields:     secret.Fields{"primary": secret.New(primary), "secondary": secret.New(secondary)},
		ResourceID: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Batch/batchAccounts/a",
		APIVersion: "2024-02-01",
	}
}

// managedMeta is the metadata keysync would have written for d.
func managedMeta(d Desired, extra map[string]string) map[string]string {
	m := ownMetadata(d, nil)
	m[MetaSyncedAt] = "2026-01-01T00:00:00Z"
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// v2 is a KV v2 secret, its live version written a year ago (aged sets
// another time). One with keysync's metadata mark carries its data mark
// too (for desired's account), as every write since data marks leaves
// it; legacyV2 is one written before.
func v2(version int, data map[string]any, meta map[string]string) sinks.State {
	if data != nil && meta[MetaManagedBy] == ManagedByValue {
		if _, ok := data[FieldOwner]; !ok {
			data = maps.Clone(data)
			data[FieldOwner] = ownMark
		}
	}
	return legacyV2(version, data, meta)
}

// ownMark is the data mark of desired's account.
var ownMark = strings.ToLower(desired("", "").ResourceID)

func legacyV2(version int, data map[string]any, meta map[string]string) sinks.State {
	st := sinks.State{Exists: data != nil, Version: version, Versioned: true, Metadata: meta, Data: secret.NewData(data)}
	if st.Exists {
		st.Created = now.Add(-365 * 24 * time.Hour)
	}
	return st
}

// aged is st with its live version written d ago.
func aged(st sinks.State, d time.Duration) sinks.State {
	st.Created = now.Add(-d)
	return st
}

func TestCalculate(t *testing.T) {
	d := desired(keyA, keyB)
	tests := []struct {
		name       string
		current    sinks.State
		desired    Desired
		action     Action
		fields     []string
		version    int
		wantMeta   bool
		reasonPart string
	}{
		{name: "v2 absent creates both fields and the data mark", current: v2(0, nil, nil), desired: d,
			action: Create, fields: []string{"primary", "secondary", FieldOwner}, wantMeta: true},
		{name: "v2 deleted latest version is refused: whose it was cannot be read", current: v2(4, nil, nil), desired: d,
			action: Refused, version: 4},
		{name: "v2 deleted latest version adopted creates against its version", current: v2(4, nil, nil), desired: withAdopt(d),
			action: Create, fields: []string{"primary", "secondary", FieldOwner}, version: 4, wantMeta: true},
		{name: "v2 equal and managed is unchanged", current: v2(3, map[string]any{"primary": keyA, "secondary": keyB}, managedMeta(d, nil)), desired: d,
			action: Unchanged, version: 3},
		{name: "v2 one rotated key updates that field only", current: v2(3, map[string]any{"primary": keyA, "secondary": keyC}, managedMeta(d, nil)), desired: d,
			action: Update, fields: []string{"secondary"}, version: 3, wantMeta: true},
		{name: "v2 foreign fields are not a change", current: v2(1, map[string]any{"primary": keyA, "secondary": keyB, "owner": "team-x", "n": 3}, managedMeta(d, nil)), desired: d,
			action: Unchanged, version: 1},
		{name: "v2 missing field is added", current: v2(2, map[string]any{"primary": keyA, "other": "x"}, managedMeta(d, nil)), desired: d,
			action: Update, fields: []string{"secondary"}, version: 2, wantMeta: true},
		{name: "v2 non-string field with our name is replaced", current: v2(2, map[string]any{"primary": 42, "secondary": keyB}, managedMeta(d, nil)), desired: d,
			action: Update, fields: []string{"primary"}, version: 2, wantMeta: true},
		{name: "v2 unowned secret is refused", current: v2(1, map[string]any{"primary": keyC, "secondary": keyB}, map[string]string{"team": "x"}), desired: d,
			action: Refused, version: 1, reasonPart: "adopt = true"},
		{name: "v2 unowned secret without metadata is refused", current: v2(1, map[string]any{"foo": "bar"}, nil), desired: d,
			action: Refused, version: 1, reasonPart: "not created by keysync"},
		{name: "v2 unowned secret with adopt updates", current: v2(1, map[string]any{"primary": keyC, "secondary": keyB}, nil), desired: withAdopt(d),
			action: Update, fields: []string{"primary", FieldOwner}, version: 1, wantMeta: true},
		{name: "v2 unowned equal secret with adopt writes the data mark", current: v2(5, map[string]any{"primary": keyA, "secondary": keyB}, nil), desired: withAdopt(d),
			action: Update, fields: []string{FieldOwner}, version: 5, wantMeta: true},
		{name: "v2 unowned equal secret with our data mark and adopt writes metadata only", current: v2(5, map[string]any{"primary": keyA, "secondary": keyB, FieldOwner: ownMark}, nil), desired: withAdopt(d),
			action: Adopt, version: 5, wantMeta: true},
		{name: "v2 stale fingerprints are repaired", current: v2(2, map[string]any{"primary": keyA, "secondary": keyB}, managedMeta(desired(keyA, keyC), nil)), desired: d,
			action: RepairMetadata, version: 2, wantMeta: true},
		{name: "v2 metadata-only entry of another owner is no data to protect", current: v2(0, nil, map[string]string{"team": "x"}), desired: d,
			action: Create, fields: []string{"primary", "secondary", FieldOwner}, wantMeta: true},
		{name: "v1 absent creates without metadata, with the data mark", current: sinks.State{}, desired: d,
			action: Create, fields: []string{"primary", "secondary", FieldOwner}},
		{name: "v1 equal and marked is unchanged", current: sinks.State{Exists: true, Data: secret.NewData(map[string]any{"primary": keyA, "secondary": keyB, FieldOwner: ownMark})}, desired: d,
			action: Unchanged},
		{name: "v1 equal without the data mark gets it", current: sinks.State{Exists: true, Data: secret.NewData(map[string]any{"primary": keyA, "secondary": keyB})}, desired: d,
			action: Update, fields: []string{FieldOwner}},
		{name: "v1 rotated updates without metadata", current: sinks.State{Exists: true, Data: secret.NewData(map[string]any{"primary": keyC, "secondary": keyB, FieldOwner: ownMark})}, desired: d,
			action: Update, fields: []string{"primary"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := Calculate(tt.current, tt.desired, now)
			if ch.Action != tt.action {
				t.Fatalf("action = %v, want %v", ch.Action, tt.action)
			}
			if got := fieldNames(ch); strings.Join(got, ",") != strings.Join(tt.fields, ",") {
				t.Errorf("changed fields = %v, want %v", got, tt.fields)
			}
			if ch.BaseVersion != tt.version {
				t.Errorf("base version = %d, want %d", ch.BaseVersion, tt.version)
			}
			if (ch.Write.Metadata != nil) != tt.wantMeta {
				t.Errorf("metadata = %v, want present: %t", ch.Write.Metadata, tt.wantMeta)
			}
			if tt.reasonPart != "" && !strings.Contains(ch.Reason, tt.reasonPart) {
				t.Errorf("reason %q lacks %q", ch.Reason, tt.reasonPart)
			}
			checkWrite(t, ch, tt.current, tt.desired)
		})
	}
}

func withAdopt(d Desired) Desired { d.Adopt = true; return d }

func fieldNames(ch Change) []string {
	var out []string
	for _, f := range ch.Fields {
		out = append(out, f.Name)
	}
	return out
}

// checkWrite asserts the write holds the whole secret when data changes:
// the desired keys, and every other field as it was.
func checkWrite(t *testing.T, ch Change, cur sinks.State, d Desired) {
	t.Helper()
	if !ch.WritesData() {
		if ch.Write.WritesData() {
			t.Fatalf("a %v change writes data", ch.Action)
		}
		return
	}
	if ch.Write.BaseVersion != cur.Version || ch.Write.Create != (ch.Action == Create) {
		t.Errorf("write base %d create %t, for a %v from version %d", ch.Write.BaseVersion, ch.Write.Create, ch.Action, cur.Version)
	}
	for _, name := range ch.Write.Data.Names() {
		got, _ := ch.Write.Data.Field(name)
		if name == FieldOwner {
			continue
		}
		if want, ok := d.Fields[name]; ok {
			if !got.Equal(want) {
				t.Errorf("write[%s] is not the desired value", name)
			}
			continue
		}
		if was, ok := cur.Data.Field(name); !ok || !got.Equal(was) {
			t.Errorf("write[%s] is not the field as it was", name)
		}
	}
	want := len(d.Fields) + len(cur.Data.Names()) - common(cur.Data, d.Fields)
	if !cur.Data.Has(FieldOwner) {
		want++
	}
	if ch.Write.Data.Len() != want {
		t.Errorf("write has %d fields, want %d", ch.Write.Data.Len(), want)
	}
	if mark, _ := ch.Write.Data.Field(FieldOwner); mark.Reveal() != strings.ToLower(d.ResourceID) {
		t.Errorf("a write lacks the data mark")
	}
	for _, f := range ch.Fields {
		if f.Plain {
			continue
		}
		if f.To != d.Fields[f.Name].Fingerprint() {
			t.Errorf("field %s: To = %s, want the desired fingerprint", f.Name, f.To)
		}
	}
}

func common(data secret.Data, fields secret.Fields) int {
	n := 0
	for _, name := range data.Names() {
		if _, ok := fields[name]; ok {
			n++
		}
	}
	return n
}

func TestCalculateMetadata(t *testing.T) {
	d := desired(keyA, keyB)
	cur := v2(1, map[string]any{"primary": keyC, "secondary": keyB}, managedMeta(d, map[string]string{"team": "payments"}))
	ch := Calculate(cur, d, now)
	want := map[string]string{
		MetaManagedBy:                     ManagedByValue,
		MetaResourceID:                    d.ResourceID,
		MetaAPIVersion:                    "2024-02-01",
		MetaSyncedAt:                      "2026-11-27T12:00:00Z",
		MetaFingerprintPrefix + "primary": secret.New(keyA).Fingerprint(),
		"team":                            "payments",
	}
	for k, v := range want {
		if ch.Write.Metadata[k] != v {
			t.Errorf("metadata[%s] = %q, want %q", k, ch.Write.Metadata[k], v)
		}
	}
	if cur.Metadata[MetaSyncedAt] != "2026-01-01T00:00:00Z" {
		t.Error("Calculate modified the current metadata map")
	}
	for k, v := range ch.Write.Metadata {
		if strings.Contains(v, keyA) || strings.Contains(v, keyB) || strings.Contains(k, keyA) {
			t.Fatalf("metadata entry %s holds a key value", k)
		}
	}
}

func TestDescribeNeverShowsKeys(t *testing.T) {
	ch := Calculate(v2(1, map[string]any{"primary": keyC, "secondary": keyB}, managedMeta(desired(keyA, keyB), nil)), desired(keyA, keyB), now)
	got := ch.Describe()
	for _, k := range []string{keyA, keyB, keyC} {
		if strings.Contains(got, k[:12]) {
			t.Fatalf("Describe() = %q shows a key", got)
		}
	}
	want := "primary: " + secret.New(keyC).Fingerprint() + " -> " + secret.New(keyA).Fingerprint()
	if got != want {
		t.Fatalf("Describe() = %q, want %q", got, want)
	}
}

func TestActionString(t *testing.T) {
	for a, want := range map[Action]string{Unchanged: "unchanged", Create: "create", Update: "update", Adopt: "adopt", RepairMetadata: "repair-metadata", Refused: "refused", Action(42): "action(42)"} {
		if a.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(a), a.String(), want)
		}
	}
}

// TestRefusalNeverRotates: a secret keysync does not own is refused before
// any regeneration is planned.
func TestRefusalNeverRotates(t *testing.T) {
	d := desired(keyA, keyB)
	d.Rotate = &Rotation{Every: time.Hour}
	ch := Calculate(v2(1, map[string]any{"primary": keyC}, nil), d, now)
	if ch.Action != Refused || ch.Rotation.Regenerate != "" || ch.Write.WritesData() {
		t.Fatalf("%v regenerate %q", ch.Action, ch.Rotation.Regenerate)
	}
}

// TestRedactDropsValues: a change kept for reports holds no key.
func TestRedactDropsValues(t *testing.T) {
	ch := Calculate(v2(0, nil, nil), desired(keyA, keyB), now).Redact()
	if ch.Write.Data.Len() != 0 || ch.Write.Metadata != nil || len(ch.Fields) != 3 {
		t.Fatalf("redacted change %+v", ch)
	}
}

// TestTagsInMetadata: copy_tags records the resource's tags; a changed or
// removed tag repairs the metadata, and a foreign key is kept.
func TestTagsInMetadata(t *testing.T) {
	d := desired(keyA, keyB)
	d.Tags = map[string]string{"owner": "payments"}
	ch := Calculate(v2(0, nil, nil), d, now)
	if ch.Write.Metadata[MetaTagPrefix+"owner"] != "payments" {
		t.Fatalf("tag not recorded: %v", ch.Write.Metadata)
	}
	data := map[string]any{"primary": keyA, "secondary": keyB}
	meta := managedMeta(d, map[string]string{MetaTagPrefix + "team": "old", "theirs": "x"})
	ch = Calculate(v2(1, data, meta), d, now)
	if ch.Action != RepairMetadata || ch.Write.Metadata[MetaTagPrefix+"team"] != "" || ch.Write.Metadata["theirs"] != "x" {
		t.Fatalf("%v: %v", ch.Action, ch.Write.Metadata)
	}
	if ch := Calculate(v2(1, data, managedMeta(d, nil)), d, now); ch.Action != Unchanged {
		t.Fatalf("recorded tags: %v", ch.Action)
	}
}

// TestRefoundAccountClearsMark: a secret marked as gone whose source is
// found again loses the mark.
func TestRefoundAccountClearsMark(t *testing.T) {
	d := desired(keyA, keyB)
	ch := Calculate(v2(1, map[string]any{"primary": keyA, "secondary": keyB}, managedMeta(d, map[string]string{MetaSourceGone: stamp(now)})), d, now)
	if ch.Action != RepairMetadata || ch.Write.Metadata[MetaSourceGone] != "" {
		t.Fatalf("%v %v", ch.Action, ch.Write.Metadata)
	}
}

func TestRemoval(t *testing.T) {
	mine := managedMeta(desired(keyA, keyB), nil)
	id := desired(keyA, keyB).ResourceID
	data := map[string]any{"primary": keyA}
	tests := []struct {
		name   string
		cur    sinks.State
		policy string
		action Action
	}{
		{"keep", v2(1, data, mine), RemoveKeep, Unchanged},
		{"mark", v2(1, data, mine), RemoveMark, Mark},
		{"marked already", v2(1, data, managedMeta(desired(keyA, keyB), map[string]string{MetaSourceGone: stamp(now)})), RemoveMark, Unchanged},
		{"delete marks first", v2(3, data, mine), RemoveDelete, Mark},
		{"never another's", v2(1, data, map[string]string{"team": "x"}), RemoveDelete, Refused},
		{"never on KV v1", sinks.State{Exists: true, Data: secret.NewData(data)}, RemoveDelete, Refused},
		{"nothing there", v2(0, nil, nil), RemoveDelete, Unchanged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := Removal(tt.cur, Gone{Policy: tt.policy, ResourceID: id, DeleteAfter: 7 * 24 * time.Hour}, now)
			if ch.Action != tt.action {
				t.Fatalf("%v (%s), want %v", ch.Action, ch.Reason, tt.action)
			}
			// "delete" marks in the data (a new version), "mark" in the
			// metadata only.
			if ch.Write.Delete != (tt.action == Delete) || ch.Write.WritesData() != (tt.action == Mark && tt.policy == RemoveDelete) {
				t.Fatalf("write %+v", ch.Write)
			}
			if tt.action == Mark && (ch.Write.Metadata[MetaSourceGone] != stamp(now) || ch.Write.Metadata[MetaManagedBy] != ManagedByValue) {
				t.Fatalf("mark %v", ch.Write.Metadata)
			}
		})
	}
}

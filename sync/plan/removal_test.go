package plan

import (
	"strings"
	"testing"
	"time"

	"github.com/keysync/keysync/sinks"
)

// TestRemovalDeletesInTwoSteps: on_removed = "delete" first writes the
// time into the data (a new version, the data mark with it), and deletes
// only once that time is delete_after old (the source still gone: the
// caller asks again only then); a time it cannot read starts the wait
// over, and "mark" never deletes however old its mark.
func TestRemovalDeletesInTwoSteps(t *testing.T) {
	const after = 7 * 24 * time.Hour
	mine := managedMeta(desired(keyA, keyB), nil)
	marked := func(at string) sinks.State {
		m := managedMeta(desired(keyA, keyB), map[string]string{MetaSourceGone: at})
		return v2(4, map[string]any{"primary": keyA, FieldOwner: ownMark, FieldGoneAt: at}, m)
	}
	tests := []struct {
		name   string
		cur    sinks.State
		policy string
		action Action
		reason string
	}{
		{"first removal: the time in the data", v2(4, map[string]any{"primary": keyA, FieldOwner: ownMark}, mine), RemoveDelete, Mark, ""},
		{"marked a day ago: waits", marked(stamp(now.Add(-24 * time.Hour))), RemoveDelete, Unchanged, "deleted from " + stamp(now.Add(6*24*time.Hour))},
		{"marked just short of delete_after: waits", marked(stamp(now.Add(-after + time.Second))), RemoveDelete, Unchanged, "delete_after 168h0m0s"},
		{"marked delete_after ago: deleted", marked(stamp(now.Add(-after))), RemoveDelete, Delete, ""},
		{"a time from the future: waits", marked(stamp(now.Add(time.Hour))), RemoveDelete, Unchanged, "source gone since"},
		{"a time it cannot read: marked anew", marked("yesterday"), RemoveDelete, Mark, ""},
		{"mark never deletes", marked(stamp(now.Add(-365 * 24 * time.Hour))), RemoveMark, Unchanged, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := Removal(tt.cur, Gone{Policy: tt.policy, ResourceID: desired(keyA, keyB).ResourceID, DeleteAfter: after}, now)
			if ch.Action != tt.action || !strings.Contains(ch.Reason, tt.reason) {
				t.Fatalf("%v %q, want %v %q", ch.Action, ch.Reason, tt.action, tt.reason)
			}
			if tt.reason != "" && ch.Describe() != ch.Reason {
				t.Fatalf("describe %q", ch.Describe())
			}
			if tt.action == Mark {
				at, _ := ch.Write.Data.Field(FieldGoneAt)
				owner, _ := ch.Write.Data.Field(FieldOwner)
				if at.Reveal() != stamp(now) || owner.Reveal() != ownMark || ch.Write.Metadata[MetaSourceGone] != stamp(now) {
					t.Fatalf("mark: data %v, metadata %v", ch.Write.Data, ch.Write.Metadata)
				}
				if _, ok := ch.Write.Data.Field("primary"); !ok {
					t.Fatal("the mark's version lost the keys")
				}
			}
			if ch.Write.Delete != (tt.action == Delete) || ch.Write.BaseVersion != 4 && ch.HasChanges() {
				t.Fatalf("write %+v", ch.Write)
			}
		})
	}
}

// TestRemovalWaitsOnTheData: the deletion waits on the time in the data,
// which a principal that may write only the metadata cannot change. Its
// source-gone-at moved a year back deletes nothing sooner; the data's time
// alone decides.
func TestRemovalWaitsOnTheData(t *testing.T) {
	const after = 7 * 24 * time.Hour
	forged := managedMeta(desired(keyA, keyB), map[string]string{MetaSourceGone: stamp(now.Add(-365 * 24 * time.Hour))})
	g := Gone{Policy: RemoveDelete, ResourceID: desired(keyA, keyB).ResourceID, DeleteAfter: after}
	fresh := v2(4, map[string]any{"primary": keyA, FieldOwner: ownMark, FieldGoneAt: stamp(now.Add(-time.Hour))}, forged)
	if ch := Removal(fresh, g, now); ch.Action != Unchanged || ch.Write.Delete {
		t.Fatalf("a backdated metadata mark deleted early: %v %q", ch.Action, ch.Reason)
	}
	unmarked := v2(4, map[string]any{"primary": keyA, FieldOwner: ownMark}, forged)
	if ch := Removal(unmarked, g, now); ch.Action != Mark || ch.Write.Delete {
		t.Fatalf("a metadata mark without the data's deleted: %v %q", ch.Action, ch.Reason)
	}
}

// TestFoundAgainDropsTheGoneTime: an account found again loses the time
// a pending deletion recorded in its data, with one write.
func TestFoundAgainDropsTheGoneTime(t *testing.T) {
	d := desired(keyA, keyB)
	cur := v2(3, map[string]any{"primary": keyA, "secondary": keyB, FieldGoneAt: stamp(now), "theirs": "x"}, managedMeta(d, map[string]string{MetaSourceGone: stamp(now)}))
	ch := Calculate(cur, d, now)
	if ch.Action != Update || ch.Write.Data.Has(FieldGoneAt) || !ch.Write.Data.Has("theirs") || ch.Write.Metadata[MetaSourceGone] != "" {
		t.Fatalf("%v: data %v, metadata %v", ch.Action, ch.Write.Data, ch.Write.Metadata)
	}
	if !strings.Contains(ch.Describe(), FieldGoneAt+": ") {
		t.Fatalf("the plan does not say so: %q", ch.Describe())
	}
	after := v2(4, ch.Write.Data.Reveal(), ch.Write.Metadata)
	if ch := Calculate(after, d, now); ch.Action != Unchanged {
		t.Fatalf("second run: %v %q", ch.Action, ch.Describe())
	}
}

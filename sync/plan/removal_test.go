package plan

import (
	"strings"
	"testing"
	"time"

	"github.com/keysync/keysync/sinks"
)

// TestRemovalDeletesInTwoSteps: on_removed = "delete" first marks, and
// deletes only once the mark is delete_after old (the source still gone:
// the caller asks again only then); a mark it cannot read starts the wait
// over, and "mark" never deletes however old its mark.
func TestRemovalDeletesInTwoSteps(t *testing.T) {
	const after = 7 * 24 * time.Hour
	mine := managedMeta(desired(keyA, keyB), nil)
	marked := func(at string) sinks.State {
		m := managedMeta(desired(keyA, keyB), map[string]string{MetaSourceGone: at})
		return v2(4, map[string]any{"primary": keyA, FieldOwner: ownMark}, m)
	}
	tests := []struct {
		name   string
		cur    sinks.State
		policy string
		now    time.Time
		action Action
		reason string
	}{
		{"first removal: marked", v2(4, map[string]any{"primary": keyA, FieldOwner: ownMark}, mine), RemoveDelete, now, Mark, ""},
		{"marked a day ago: waits", marked(stamp(now.Add(-24 * time.Hour))), RemoveDelete, now, Unchanged, "deleted from " + stamp(now.Add(6*24*time.Hour))},
		{"marked just short of delete_after: waits", marked(stamp(now.Add(-after + time.Second))), RemoveDelete, now, Unchanged, "delete_after 168h0m0s"},
		{"marked delete_after ago: deleted", marked(stamp(now.Add(-after))), RemoveDelete, now, Delete, ""},
		{"a mark from the future: waits", marked(stamp(now.Add(time.Hour))), RemoveDelete, now, Unchanged, "source gone since"},
		{"a mark it cannot read: marked anew", marked("yesterday"), RemoveDelete, now, Mark, ""},
		{"mark never deletes", marked(stamp(now.Add(-365 * 24 * time.Hour))), RemoveMark, now, Unchanged, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := Removal(tt.cur, tt.policy, desired(keyA, keyB).ResourceID, tt.now, after)
			if ch.Action != tt.action || !strings.Contains(ch.Reason, tt.reason) {
				t.Fatalf("%v %q, want %v %q", ch.Action, ch.Reason, tt.action, tt.reason)
			}
			if tt.reason != "" && ch.Describe() != ch.Reason {
				t.Fatalf("describe %q", ch.Describe())
			}
			if tt.action == Mark && ch.Write.Metadata[MetaSourceGone] != stamp(tt.now) {
				t.Fatalf("mark %v", ch.Write.Metadata)
			}
			if ch.Write.Delete != (tt.action == Delete) || ch.Write.BaseVersion != 4 && ch.HasChanges() {
				t.Fatalf("write %+v", ch.Write)
			}
		})
	}
}

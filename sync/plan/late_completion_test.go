package plan

import (
	"testing"
	"time"

	"github.com/keysync/keysync/secret"
)

// TestLateCompletionKeepsTheOldKeyAPeriod: a recorded rotation completed
// more than a period after its regenerate (Vault unwritable for a day, a
// process down) publishes the new key only now; consumers used the old
// one until now, so it must stay valid a whole period from now, not be
// regenerated at the next sync.
func TestLateCompletionKeepsTheOldKeyAPeriod(t *testing.T) {
	p := Rotation{Every: day, Grace: day}
	over := map[string]string{MetaRotatedAt: at(3 * day), MetaRotationPending: "secondary " + at(2*day)}
	cur := v2(3, map[string]any{"primary": keyA, "secondary": keyB, FieldActive: "primary"}, over)
	azure := secret.Fields{"primary": secret.New(keyA), "secondary": secret.New(keyC)}
	rp := decideRotation(cur, azure, p, now)
	if rp.Completed != "secondary" || rp.Regenerate != "" {
		t.Fatalf("completion: %+v", rp)
	}
	after := aged(v2(4, map[string]any{"primary": keyA, "secondary": keyC, FieldActive: "secondary"}, rp.Meta), 0)
	next := decideRotation(after, azure, p, now.Add(time.Hour))
	if next.Regenerate != "" {
		t.Fatalf("an hour after the new key reached Vault, regenerated %q, the key consumers used until then", next.Regenerate)
	}
}

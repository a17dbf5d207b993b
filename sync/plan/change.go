package plan

import (
	"fmt"
	"strings"

	"github.com/keysync/keysync/sinks"
)

// Action is what a Change does.
type Action int

// The actions, in the order a summary lists them.
const (
	Unchanged Action = iota
	Create
	Update
	// Adopt takes over an existing secret whose data already matches: only
	// the metadata is written.
	Adopt
	// RepairMetadata rewrites keysync's provenance when the data matches but
	// the recorded fingerprints do not (a metadata write that failed earlier).
	RepairMetadata
	// Refused means keysync will not touch the secret; Reason says why.
	Refused
	// Mark records that the secret's source is gone (on_removed = "mark").
	Mark
	// Delete deletes the secret whole (on_removed = "delete").
	Delete
)

var actionNames = [...]string{"unchanged", "create", "update", "adopt", "repair-metadata", "refused", "mark", "delete"}

// String returns the action's name as the plan and the summary print it.
func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("action(%d)", int(a))
}

// FieldChange names one field that changes, with fingerprints of the values
// before and after. From is empty when the field is new.
type FieldChange struct {
	Name string
	From string
	To   string
	// Plain means From and To are the values themselves (not secrets).
	Plain bool
}

// Change is the plan for one secret.
type Change struct {
	Action Action
	// Fields lists the fields whose values change.
	Fields []FieldChange
	// Write is what the sink is asked to write; zero when nothing changes.
	// It holds keys: a change that outlives its sync drops it (Redact).
	Write sinks.Write
	// BaseVersion is the version the change was planned from.
	BaseVersion int
	// Reason explains a refusal, why a removal did less than its policy
	// asked (a delete that only marked), or why it waits (Unchanged).
	Reason string
	// Rotation is the account's rotation this cycle; Rotation.Regenerate
	// names the key to regenerate before writing, "" for none.
	Rotation RotationPlan
}

// Redact returns c without the values it would write: field names,
// fingerprints and the action stay, for reports that outlive the sync.
func (c Change) Redact() Change {
	c.Write = sinks.Write{}
	return c
}

// HasChanges reports whether the change writes anything.
func (c Change) HasChanges() bool {
	return c.Action != Unchanged && c.Action != Refused
}

// WritesData reports whether the change writes the secret's data (and so
// creates a new KV v2 version), as opposed to its metadata only.
func (c Change) WritesData() bool {
	return c.Action == Create || c.Action == Update
}

// Describe renders the change for people: field names and fingerprints,
// never a value.
func (c Change) Describe() string {
	switch {
	case c.Action == Refused, c.Action == Unchanged && c.Reason != "":
		return c.Reason
	case c.Action == Mark && c.Reason != "":
		return "source gone: marked " + MetaSourceGone + "; " + c.Reason
	case c.Action == Mark:
		return "source gone: marked " + MetaSourceGone
	case c.Action == Delete:
		return "source gone: every version and the metadata deleted"
	}
	if c.Reason != "" && len(c.Fields) == 0 {
		return c.Reason
	}
	parts := make([]string, 0, len(c.Fields)+1)
	switch {
	case c.Rotation.Regenerate != "":
		parts = append(parts, "rotate: regenerate "+c.Rotation.Regenerate)
	case c.Rotation.Completed != "":
		parts = append(parts, "rotate: complete the recorded regeneration of "+c.Rotation.Completed)
	case c.Rotation.Held != "":
		parts = append(parts, "rotate: pending, the regeneration of "+c.Rotation.Held+" recorded at "+stamp(c.Rotation.HeldSince)+
			" may still land; nothing is regenerated until it does")
	}
	for _, f := range c.Fields {
		from := f.From
		if from == "" {
			from = "(none)"
		}
		parts = append(parts, fmt.Sprintf("%s: %s -> %s", f.Name, from, f.To))
	}
	return strings.Join(parts, ", ")
}

package plan

import (
	"fmt"
	"strings"

	"github.com/keysync/keysync/secret"
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
)

var actionNames = [...]string{"unchanged", "create", "update", "adopt", "repair-metadata", "refused"}

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
	// Set holds the new values of exactly those fields.
	Set secret.Fields
	// Metadata is the full custom_metadata to write (KV v2), nil otherwise.
	Metadata map[string]string
	// BaseVersion is the version a KV v2 write must check-and-set against.
	BaseVersion int
	// Reason explains a refusal.
	Reason string
	// Rotation names the key this cycle regenerates, "" for none.
	Rotation string
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
	if c.Action == Refused {
		return c.Reason
	}
	parts := make([]string, 0, len(c.Fields)+1)
	if c.Rotation != "" {
		parts = append(parts, "rotate: regenerate "+c.Rotation)
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

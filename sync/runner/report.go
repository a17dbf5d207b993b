package runner

import (
	"errors"
	"fmt"

	"github.com/keysync/keysync/sync/plan"
)

// Summary counts results by outcome.
type Summary struct {
	Created, Updated, Unchanged, Adopted, Repaired, Failed int
	// Marked and Deleted count secrets whose source discovery no longer
	// finds.
	Marked, Deleted int
	// Pending counts accounts whose recorded regenerate has not landed
	// (Held): synced, but the rotation is not done.
	Pending int
}

// Summarize counts results.
func Summarize(results []Result) Summary {
	var s Summary
	for _, r := range results {
		s.Add(r)
	}
	return s
}

// Add counts one result.
func (s *Summary) Add(r Result) {
	switch {
	case r.Err != nil:
		s.Failed++
		return
	case Held(r):
		s.Pending++
		return
	}
	switch r.Change.Action {
	case plan.Create:
		s.Created++
	case plan.Update:
		s.Updated++
	case plan.Adopt:
		s.Adopted++
	case plan.RepairMetadata:
		s.Repaired++
	case plan.Mark:
		s.Marked++
	case plan.Delete:
		s.Deleted++
	default:
		s.Unchanged++
	}
}

// String renders the counts on one line.
func (s Summary) String() string {
	out := fmt.Sprintf("%d created, %d updated, %d unchanged, %d adopted, %d metadata repaired, %d failed",
		s.Created, s.Updated, s.Unchanged, s.Adopted, s.Repaired, s.Failed)
	if s.Marked+s.Deleted > 0 {
		out += fmt.Sprintf(", %d marked gone, %d deleted", s.Marked, s.Deleted)
	}
	if s.Pending > 0 {
		out += fmt.Sprintf(", %d rotation pending", s.Pending)
	}
	return out
}

// Outcome names a result: the plan's action when it succeeded, or
// "pending" when a recorded regenerate held its rotation back (Held),
// else "refused" or "failed". It is the result label of
// keysync_sync_total.
func Outcome(r Result) string {
	switch {
	case errors.Is(r.Err, ErrRefused):
		return "refused"
	case Held(r):
		return "pending"
	case r.Err != nil:
		return "failed"
	}
	return r.Change.Action.String()
}

// Outcomes are the results Outcome gives, in an order that holders of
// many (the scheduler's views, the metrics) index by.
var Outcomes = [...]string{"create", "update", "unchanged", "adopt", "repair-metadata", "mark", "delete", "pending", "refused", "failed"}

// OutcomeIndex is the index in Outcomes of name, or -1.
func OutcomeIndex(name string) int {
	for i, o := range Outcomes {
		if o == name {
			return i
		}
	}
	return -1
}

func detail(r Result) string {
	if r.Err == nil || errors.Is(r.Err, ErrRefused) {
		return r.Change.Describe()
	}
	return fmt.Sprintf("%v (%s)", r.Err, plural(r.Attempts, "attempt"))
}

func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

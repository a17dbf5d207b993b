package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keysync/keysync/internal/server"
	"github.com/keysync/keysync/sync/scheduler"
)

// printStatus writes the accounts as an aligned table.
func printStatus(w io.Writer, r server.StatusReply) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tTYPE\tPATH\tLAST RESULT\tLAST RUN\tLAST SUCCESS\tNEXT RUN\tFAILURES\tERROR\tROTATION")
	for _, a := range r.Accounts {
		last := a.LastResult
		if a.Running {
			last = strings.TrimSpace(last + " (running)")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", cell(a.Account), cell(a.Type), cell(a.Path), cell(last),
			when(a.LastRun), when(a.LastSuccess), when(a.NextRun), a.ConsecutiveFailures, cell(a.ErrorCode), rotationCell(a.Rotation))
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "%d accounts at %s\n", max(r.AccountsTotal, len(r.Accounts)), when(r.Time))
	if r.AccountsTotal > len(r.Accounts) {
		fmt.Fprintf(w, "(%d listed above: those in trouble first, then by label)\n", len(r.Accounts))
	}
	if d := r.Discovery; d != nil {
		fmt.Fprintf(w, "discovery at %s: %d accounts, %d added, %d removed\n", when(d.At), d.Accounts, d.Added, d.Removed)
		for _, name := range slices.Sorted(maps.Keys(d.Failed)) {
			fmt.Fprintf(w, "  %s failed: %s\n", cell(name), cell(d.Failed[name]))
		}
		for _, c := range d.Conflicts {
			fmt.Fprintf(w, "  conflict: %s\n", cell(c))
		}
		if d.Held != "" {
			fmt.Fprintf(w, "  held: %s\n", cell(d.Held))
		}
	}
	printDerived(w, r)
}

func rotationCell(r scheduler.RotationStatus) string {
	switch {
	case !r.Enabled:
		return "-"
	case r.Pending:
		return "pending (every " + cell(r.Every) + ")"
	}
	out := "every " + cell(r.Every) + ", last " + when(r.LastRotation)
	if len(r.Problems) > 0 {
		out += ", untrusted metadata found " + when(r.ProblemsAt)
	}
	return out
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// cell keeps a value from the daemon printable and one cell wide.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}

// printDerived lists the derived SAS in Vault, when each expires and
// from when keysync renews it; a renewal past due is flagged.
func printDerived(w io.Writer, r server.StatusReply) {
	if len(r.Derived) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DERIVED PATH\tFIELD\tEXPIRES\tRENEWS FROM\t")
	for _, d := range r.Derived {
		late := ""
		if r.Time.After(d.RenewAt) {
			late = "renewal due"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", cell(d.Path), cell(d.Name), when(d.Expires), when(d.RenewAt), late)
	}
	_ = tw.Flush()
}

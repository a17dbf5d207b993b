package estate

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/keysync/keysync/internal/server"
	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/discovery"
)

// maxSkippedShown bounds the skipped rows of one block that a report or
// the log names; the count says how many there were.
const maxSkippedShown = 10

// observe logs and counts a discovery.
func (e *Estate) observe(cfg Config, r Result) {
	out := r.Outcome
	e.obs.Discovered(r.ByType)
	for _, b := range cfg.Blocks {
		if err := out.Failed[b.Name]; err != nil {
			e.log.Error("discovery failed: keeping the accounts it found before", "block", b.Name, "err", err)
		}
		e.logSkipped(b.Name, out.Skipped[b.Name])
		e.obs.DiscoveryRun(b.Name, result(out, b.Name))
	}
	for _, c := range out.Decision.Conflicts {
		e.log.Error("discovery conflict", "err", c.Error())
	}
	if out.Decision.Held != "" {
		e.log.Warn("discovery held back its removals", "reason", out.Decision.Held)
	}
	e.log.Info("discovery done", "accounts", len(out.Decision.Discovered), "added", len(out.Decision.Added),
		"removed", len(out.Decision.Removed), "failed_blocks", len(out.Failed), "conflicts", len(out.Decision.Conflicts))
}

// logSkipped logs the rows a block skipped: one line with the count, then
// at most maxSkippedShown rows.
func (e *Estate) logSkipped(block string, skipped []sources.Skipped) {
	if len(skipped) == 0 {
		return
	}
	e.log.Warn("discovery skipped rows of the answer: the block removes nothing this run", "block", block, "count", len(skipped))
	for _, s := range skipped[:min(len(skipped), maxSkippedShown)] {
		e.log.Warn("discovery skipped a row", "block", block, "row", s.Row, "reason", s.Reason)
	}
}

// result is a block's run as keysync_discovery_runs_total counts it:
// failed, held (the block's removals, or all blocks', went past
// max_removed_fraction within removal_window and nothing was removed) or
// ok.
func result(out discovery.Outcome, block string) string {
	switch {
	case out.Failed[block] != nil:
		return "failed"
	case out.Decision.HeldBlock(block):
		return "held"
	}
	return "ok"
}

// statusOf is out as GET /status shows it.
func statusOf(out discovery.Outcome, at time.Time) *server.DiscoveryStatus {
	d := out.Decision
	st := &server.DiscoveryStatus{At: at.UTC(), Accounts: len(d.Discovered), Added: len(d.Added), Removed: len(d.Removed), Held: d.Held}
	for name, err := range out.Failed {
		if st.Failed == nil {
			st.Failed = map[string]string{}
		}
		st.Failed[name] = err.Error()
	}
	for _, c := range d.Conflicts {
		st.Conflicts = append(st.Conflicts, c.Error())
	}
	return st
}

// WriteOutcome prints what discovery found, and why a block failed or
// an account was left out, for --run-now and --dry-run.
func WriteOutcome(w io.Writer, out discovery.Outcome) {
	fmt.Fprintln(w, out.Summary())
	for name, err := range out.Failed {
		fmt.Fprintf(w, "  %s failed: %s\n", name, strings.ReplaceAll(err.Error(), "\n", " "))
	}
	for _, name := range slices.Sorted(maps.Keys(out.Skipped)) {
		skipped := out.Skipped[name]
		fmt.Fprintf(w, "  %s skipped %d rows and removed nothing:\n", name, len(skipped))
		for _, s := range skipped[:min(len(skipped), maxSkippedShown)] {
			fmt.Fprintf(w, "    %s: %s\n", s.Row, s.Reason)
		}
		if len(skipped) > maxSkippedShown {
			fmt.Fprintf(w, "    and %d more\n", len(skipped)-maxSkippedShown)
		}
	}
	for _, c := range out.Decision.Conflicts {
		fmt.Fprintf(w, "  conflict: %s\n", c.Error())
	}
	for _, l := range out.Left {
		fmt.Fprintf(w, "  %s left %q: %s\n", l.Block, l.Path, l.Reason)
	}
	if out.MoreLeft > 0 {
		fmt.Fprintf(w, "  ... and %d more secrets left\n", out.MoreLeft)
	}
}

package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/discovery"
)

func skippedRows(n int) []sources.Skipped {
	out := make([]sources.Skipped, n)
	for i := range out {
		out[i] = sources.Skipped{Row: fmt.Sprintf("/subscriptions/s/row%02d", i), Reason: "hostile"}
	}
	return out
}

// TestSkippedRowsAreBounded: the report and the log name at most 10 rows
// of a block, and say how many there were.
func TestSkippedRowsAreBounded(t *testing.T) {
	out := discovery.Outcome{Skipped: map[string][]sources.Skipped{"tagged": skippedRows(12)}}
	var w bytes.Buffer
	writeDiscovery(&w, out)
	report := w.String()
	if !strings.Contains(report, "12 rows skipped") || !strings.Contains(report, "tagged skipped 12 rows and removed nothing") ||
		!strings.Contains(report, "row09: hostile") || strings.Contains(report, "row10") || !strings.Contains(report, "and 2 more") {
		t.Fatalf("report:\n%s", report)
	}
	var logs bytes.Buffer
	d := &keysyncd{log: slog.New(slog.NewTextHandler(&logs, nil))}
	d.logSkipped("tagged", out.Skipped["tagged"])
	if lines := strings.Count(logs.String(), "\n"); lines != 11 || !strings.Contains(logs.String(), "count=12") || strings.Contains(logs.String(), "row10") {
		t.Fatalf("%d log lines:\n%s", lines, logs.String())
	}
}

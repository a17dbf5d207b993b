package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/keysync/keysync/internal/server"
	"github.com/keysync/keysync/sync/runner"
)

// TestPrintStatusDerived: the derived SAS are listed with their expiry and
// renewal, a renewal past due flagged.
func TestPrintStatusDerived(t *testing.T) {
	var b bytes.Buffer
	at := time.Date(2026, 11, 29, 5, 0, 0, 0, time.UTC)
	printStatus(&b, server.StatusReply{Time: at, Derived: []runner.DerivedExpiry{
		{Path: "apps/a/sas", Name: "sas", Expires: at.Add(2 * time.Hour), RenewAt: at.Add(-time.Minute)},
		{Path: "azure/storage/b", Name: "token", Expires: at.Add(24 * time.Hour), RenewAt: at.Add(12 * time.Hour)},
	}})
	want := []string{
		"0 accounts at 2026-11-29T05:00:00Z",
		"DERIVED PATH     FIELD  EXPIRES               RENEWS FROM",
		"apps/a/sas       sas    2026-11-29T07:00:00Z  2026-11-29T04:59:00Z  renewal due",
		"azure/storage/b  token  2026-11-30T05:00:00Z  2026-11-29T17:00:00Z",
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")[1:]
	for i := range lines {
		lines[i] = strings.TrimRight(lines[i], " ")
	}
	if got := strings.Join(lines, "\n"); got != strings.Join(want, "\n") {
		t.Fatalf("table:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}

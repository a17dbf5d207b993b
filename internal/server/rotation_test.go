package server

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keysync/keysync/sync/runner"
)

// TestRotationProblemsReported: what a sync found untrustworthy in an
// account's rotation metadata shows in /status (kept after the repair)
// and, while the latest sync still finds it, in /readyz, which it does
// not make unready: the metadata is ignored, and a principal that may
// write only metadata must not take keysync out of service.
func TestRotationProblemsReported(t *testing.T) {
	s, h := newTestServer(t, &countingSyncer{}, testToken, time.Hour)
	at := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	s.RotationProblems = func() []runner.ProblemReport {
		return []runner.ProblemReport{
			{Path: "azure/acct1", Problems: []string{"rotated-at 2036-01-01T00:00:00Z is later than now"}, At: at, Current: true},
			{Path: "azure/acct2", Problems: []string{"rotation-pending of secondary is dated in the future"}, At: at},
		}
	}
	w := do(h, "GET", "/status", "Bearer "+testToken)
	for _, want := range []string{
		`"rotation":{"enabled":false,"pending":false,"problems":["rotated-at 2036-01-01T00:00:00Z is later than now"],"problems_at":"2026-11-29T08:00:00Z","problems_current":true}`,
		`"problems":["rotation-pending of secondary is dated in the future"],"problems_at":"2026-11-29T08:00:00Z"}`,
	} {
		if !strings.Contains(w.Body.String(), want) {
			t.Errorf("GET /status lacks %s: %s", want, w.Body)
		}
	}
	w = do(h, "GET", "/readyz", "Bearer "+testToken)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"rotation_problems":["azure/acct1"]`) {
		t.Fatalf("/readyz %d %s", w.Code, w.Body)
	}
}

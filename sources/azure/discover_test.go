package azure

import (
	"net/http"
	"testing"
	"time"
)

// Discovery against the emulator is in discover_emulator_test.go; this
// file holds what needs no server.

func TestQuotaReset(t *testing.T) {
	for v, want := range map[string]time.Duration{"00:00:03": 3 * time.Second, "00:01:00": time.Minute, "99:00:00": maxQuotaWait,
		"": 0, "3": 0, "00:00:99": 0, "-1:00:00": 0, "00:00:03x": 0} {
		h := http.Header{}
		h.Set("x-ms-user-quota-resets-after", v)
		if got := quotaReset(h); got != want {
			t.Errorf("quotaReset(%q) = %v, want %v", v, got, want)
		}
	}
}

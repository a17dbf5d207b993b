package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keysync/keysync/internal/armemu"
)

// TestDerivedExpiryObserved: the daemon lists a derived SAS it wrote, with
// its expiry and renewal, in GET /status, in the metrics and in keysync
// status.
func TestDerivedExpiryObserved(t *testing.T) {
	shared(t)
	n := seq.Add(1)
	res := armemu.Resource{Type: "storage", Subscription: subscription, ResourceGroup: "rg-e2e", Name: fmt.Sprintf("obs%d", n)}
	emu.Add(res)
	path, sasPath := fmt.Sprintf("azure/storage/obs%d", n), fmt.Sprintf("apps/obs%d/sas", n)
	tok := fmt.Sprintf("e2e-token-%d-%d", time.Now().UnixNano(), n)
	tokFile := filepath.Join(t.TempDir(), "api-token")
	must(t, os.WriteFile(tokFile, []byte(tok+"\n"), 0o600))
	account := accountTOML(res, path) + fmt.Sprintf(`
[[account.derived]]
name = "sas"
kind = "storage-account-sas"
permissions = "r"
resource_types = "o"
expiry = "1h"
path = %q
`, sasPath)
	d := startDaemon(t, func(addr string) string {
		return daemonConfig(addr, fmt.Sprintf("api.token_file = %q", tokFile)) + account
	})
	var reply struct {
		Derived []struct {
			Path, Name string
			Expires    time.Time
			RenewAt    time.Time `json:"renew_at"`
		} `json:"derived"`
	}
	eventually(t, waitFloor, func() (bool, string) {
		code, _, body := d.call("GET", "/status", tok)
		if code != 200 || json.Unmarshal([]byte(body), &reply) != nil {
			return false, "GET /status to answer"
		}
		return len(reply.Derived) == 1, "/status to list the derived SAS:\n" + body
	})
	got := reply.Derived[0]
	if got.Path != sasPath || got.Name != "sas" || time.Until(got.Expires) > time.Hour || time.Until(got.Expires) < 50*time.Minute ||
		!got.RenewAt.After(got.Expires.Add(-31*time.Minute)) || !got.RenewAt.Before(got.Expires.Add(-14*time.Minute)) {
		t.Fatalf("/status lists %+v", got)
	}
	prefix := fmt.Sprintf(`keysync_derived_expiry_timestamp_seconds{name="sas",path=%q} `, sasPath)
	_, body := d.get("/metrics")
	var v float64
	for line := range strings.SplitSeq(body, "\n") {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			v, _ = strconv.ParseFloat(rest, 64)
		}
	}
	if int64(v) != got.Expires.Unix() {
		t.Fatalf("/metrics: %s%v, want the expiry %d", prefix, v, got.Expires.Unix())
	}
	out, code := runStatusCommand(t, "--addr", d.addr, "--token-file", tokFile)
	if code != 0 || !strings.Contains(out, "DERIVED PATH") || !strings.Contains(out, sasPath) || !strings.Contains(out, got.Expires.UTC().Format(time.RFC3339)) {
		t.Fatalf("keysync status (exit %d) does not list the SAS:\n%s", code, out)
	}
}

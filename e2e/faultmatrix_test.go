package e2e

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keysync/keysync/internal/armemu"
)

// vaultTimeout is the Vault request timeout of fault tests' configs: as
// azureTimeout, only a hang reaches it.
const vaultTimeout = "15s"

// hangTimeout is the Azure request timeout of the tests whose fault hangs
// until it: short, so that the run ends soon, long enough for a healthy
// answer on a loaded machine.
const hangTimeout = "5s"

// matrixConfig is a config for fault tests: one in-run retry, so a
// persistent transient fault ends the run after two attempts.
func matrixConfig(vaultExtra string, accts ...account) string {
	return strings.Replace(config("timeout = \""+vaultTimeout+"\"\n"+vaultExtra, accts...), "concurrency = 4\n", "concurrency = 4\nretries = 1\n", 1)
}

// failureLog is the one JSON log line of a failed account.
type failureLog struct {
	Account   string `json:"account"`
	Transient bool   `json:"transient"`
	Err       string `json:"err"`
}

func failureLines(t *testing.T, stderr, name string) []failureLog {
	t.Helper()
	var out []failureLog
	for _, line := range strings.Split(stderr, "\n") {
		var l failureLog
		if json.Unmarshal([]byte(line), &l) == nil && l.Account == name && strings.Contains(line, `"level":"ERROR"`) {
			out = append(out, l)
		}
	}
	return out
}

// TestFaultMatrixARM: each ARM fault, persistent on one account while two
// healthy accounts sync, checked five ways: classification, behaviour
// (exit code, retry timing, one log line), the healthy accounts' truth, no
// wrong value in any KV version, and no key in any output (run checks).
func TestFaultMatrixARM(t *testing.T) {
	shared(t)
	cases := []struct {
		name      string
		fault     armemu.Fault
		transient bool
		code      string
		minGap    time.Duration // between the two attempts of a transient fault
	}{
		{"429 with Retry-After", armemu.Fault{Kind: armemu.FaultStatus, Status: 429, Code: "SubscriptionRequestsThrottled", Message: "Number of write requests exceeded the limit.", RetryAfter: 1}, true, "SubscriptionRequestsThrottled", time.Second},
		{"500", armemu.Fault{Kind: armemu.FaultStatus, Status: 500, Code: "InternalServerError", Message: "Encountered internal server error."}, true, "InternalServerError", 0},
		{"503", armemu.Fault{Kind: armemu.FaultStatus, Status: 503, Code: "ServiceUnavailable", Message: "busy", RetryAfter: 1}, true, "ServiceUnavailable", time.Second},
		{"connection reset", armemu.Fault{Kind: armemu.FaultReset}, true, "Transport", 0},
		{"truncated JSON", armemu.Fault{Kind: armemu.FaultTruncated}, false, "not valid JSON", 0},
		{"HTML 502 from a gateway", armemu.Fault{Kind: armemu.FaultHTML}, true, "HTTP 502", 0},
		{"hang", armemu.Fault{Kind: armemu.FaultHang}, true, "Timeout", 0},
		{"401 invalid token", armemu.Fault{Kind: armemu.FaultStatus, Status: 401, Code: "InvalidAuthenticationToken", Message: "The access token is invalid."}, false, "InvalidAuthenticationToken", 0},
		{"403 AuthorizationFailed", armemu.Fault{Kind: armemu.FaultStatus, Status: 403, Code: "AuthorizationFailed", Message: "The client does not have authorization."}, false, "AuthorizationFailed", 0},
		{"404 ResourceNotFound", armemu.Fault{Kind: armemu.FaultStatus, Status: 404, Code: "ResourceNotFound", Message: "The Resource was not found."}, false, "ResourceNotFound", 0},
		{"409 SharedKey not allowed", armemu.Fault{Kind: armemu.FaultStatus, Status: 409, Code: "OperationNotAllowed", Message: "SharedKey is not allowed."}, false, "OperationNotAllowed", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sick, h1, h2 := newAccount(t), newAccount(t), newAccount(t)
			cfg := matrixConfig("", sick, h1, h2)
			if tc.fault.Kind == armemu.FaultHang {
				cfg = withAzureTimeout(cfg, hangTimeout)
			}
			run(t, cfg, "--run-now").expect(t, 0)
			for _, a := range []account{sick, h1, h2} {
				a.regenerate(t, "primary")
			}
			sick.inject(tc.fault)
			before := sick.requests()
			r := run(t, cfg, "--run-now", "--log-format", "json")

			// 1. classification: transient faults get the one in-run retry.
			want := 1
			if tc.transient {
				want = 2
			}
			if got := sick.requests() - before; got != want {
				t.Errorf("%d attempts, want %d", got, want)
			}
			lines := failureLines(t, r.stderr, sick.name)
			if len(lines) != 1 || lines[0].Transient != tc.transient {
				t.Errorf("want one error line with transient=%t, got %+v", tc.transient, lines)
			}
			// 2. behaviour: exit 1, the code in the summary, Retry-After kept.
			r.expect(t, 1)
			if !strings.Contains(r.stdout, tc.code) || !strings.Contains(r.stdout, "2 updated") {
				t.Errorf("summary:\n%s", r.stdout)
			}
			if times := emu.RequestTimes(sick.res()); tc.minGap > 0 && len(times) >= 2 {
				if gap := times[len(times)-1].Sub(times[len(times)-2]); gap < tc.minGap {
					t.Errorf("retried after %v, Retry-After asked %v", gap, tc.minGap)
				}
			}
			// 3. the healthy accounts hold the truth; the sick one its old keys.
			assertTruth(t, h1, h2)
			if readV2(t, sick.path).version != 1 {
				t.Error("the failing account's secret was written")
			}
			// 4. no wrong value in any version. 5. no key in any output: run().
			assertNoWrongWrites(t, sick, h1, h2)
		})
	}
}

// TestFaultMatrixConfig: every broken file in config/testdata gives exit 2
// and its exact errors, and changes nothing in Vault: no request that
// could change it reaches Vault.
func TestFaultMatrixConfig(t *testing.T) {
	shared(t)
	files, _ := filepath.Glob("../config/testdata/invalid-*.toml")
	if len(files) == 0 {
		t.Fatal("no invalid configs found")
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			t.Parallel()
			text, want := readPair(t, f)
			var writes atomic.Int64
			addr := vaultTap(t, func(_ http.ResponseWriter, r *http.Request) bool {
				if changesVault(r) {
					writes.Add(1)
				}
				return false
			})
			r := runEnv(t, text, []string{"VAULT_ADDR=" + addr}, "--run-now")
			r.expect(t, 2)
			for _, line := range strings.Split(strings.TrimSpace(want), "\n") {
				if !strings.Contains(r.stderr, "  "+line+"\n") {
					t.Errorf("stderr lacks %q:\n%s", line, r.stderr)
				}
			}
			if n := writes.Load(); n != 0 {
				t.Errorf("a broken config sent Vault %d requests that change it", n)
			}
		})
	}
}

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/keysync/keysync/internal/armemu"
)

// TestThrottledThenSuccess: a 429 with Retry-After is waited out, never
// sooner, and the retry succeeds.
func TestThrottledThenSuccess(t *testing.T) {
	shared(t)
	a := newAccount(t)
	emu.InjectFault(a.res(), armemu.Fault{Kind: armemu.FaultStatus, Status: 429,
		Code: "SubscriptionRequestsThrottled", Message: "Number of write requests exceeded the limit.", RetryAfter: 2, Times: 1})
	r := run(t, config("", a), "--run-now")
	r.expect(t, 0)
	if n := emu.Requests(a.res()); n != 2 {
		t.Fatalf("%d listKeys requests, want 2", n)
	}
	if r.elapsed < 2*time.Second {
		t.Fatalf("retried after %v, sooner than Retry-After 2s", r.elapsed)
	}
	if !strings.Contains(r.stderr, "SubscriptionRequestsThrottled") || !strings.Contains(r.stderr, "retrying") {
		t.Errorf("the throttling is not logged:\n%s", r.stderr)
	}
	if readV2(t, a.path) == nil {
		t.Fatal("no secret after the retry")
	}
}

// TestPermanentErrorFailsOneAccountOnly: a 403 on one account is not
// retried and does not stop the others; the run exits 1.
func TestPermanentErrorFailsOneAccountOnly(t *testing.T) {
	shared(t)
	ok1, bad, ok2 := newAccount(t), newAccount(t), newAccount(t)
	emu.InjectFault(bad.res(), armemu.Fault{Kind: armemu.FaultStatus, Status: 403, Code: "AuthorizationFailed",
		Message: "The client does not have authorization to perform action 'Microsoft.Batch/batchAccounts/listKeys/action'."})
	r := run(t, config("", ok1, bad, ok2), "--run-now")
	r.expect(t, 1)
	for _, a := range []account{ok1, ok2} {
		if readV2(t, a.path) == nil {
			t.Errorf("healthy account %s was not synced", a.name)
		}
	}
	if readV2(t, bad.path) != nil {
		t.Error("failed account has a secret")
	}
	if n := emu.Requests(bad.res()); n != 1 {
		t.Errorf("permanent error was tried %d times, want 1", n)
	}
	if !strings.Contains(r.stdout, "AuthorizationFailed") || !strings.Contains(r.stdout, "2 created") || !strings.Contains(r.stdout, "1 failed") {
		t.Errorf("summary:\n%s", r.stdout)
	}
}

// TestTransientFaultsAreRetried: every kind of transient fault, once, then
// success.
func TestTransientFaultsAreRetried(t *testing.T) {
	shared(t)
	faults := map[string]armemu.Fault{
		"500":              {Kind: armemu.FaultStatus, Status: 500, Code: "InternalServerError", Message: "boom"},
		"503":              {Kind: armemu.FaultStatus, Status: 503, Code: "ServiceUnavailable", Message: "busy", RetryAfter: 1},
		"connection reset": {Kind: armemu.FaultReset},
		"html 502":         {Kind: armemu.FaultHTML},
		"hang":             {Kind: armemu.FaultHang},
	}
	for name, f := range faults {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := newAccount(t)
			f.Times = 1
			emu.InjectFault(a.res(), f)
			cfg := config("", a)
			if f.Kind == armemu.FaultHang {
				cfg = withAzureTimeout(cfg, hangTimeout)
			}
			r := run(t, cfg, "--run-now")
			r.expect(t, 0)
			if n := emu.Requests(a.res()); n != 2 {
				t.Fatalf("%d requests, want 2", n)
			}
			if readV2(t, a.path) == nil {
				t.Fatal("no secret after the retry")
			}
		})
	}
}

// TestPermanentFaults: answers that waiting will not fix fail at once.
func TestPermanentFaults(t *testing.T) {
	shared(t)
	tests := map[string]struct {
		setup func(t *testing.T, a account)
		code  string
	}{
		"shared key not allowed": {func(t *testing.T, a account) { must(t, emu.SetKeysDisabled(a.res(), true)) }, "OperationNotAllowed"},
		"not found":              {func(*testing.T, account) {}, "ResourceNotFound"},
		"401 invalid token": {func(_ *testing.T, a account) {
			emu.InjectFault(a.res(), armemu.Fault{Kind: armemu.FaultStatus, Status: 401, Code: "InvalidAuthenticationToken", Message: "The access token is invalid."})
		}, "InvalidAuthenticationToken"},
		"truncated json": {func(_ *testing.T, a account) {
			emu.InjectFault(a.res(), armemu.Fault{Kind: armemu.FaultTruncated})
		}, "not valid JSON"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := newAccount(t)
			if name == "not found" {
				a.name += "gone"
			}
			tt.setup(t, a)
			r := run(t, config("", a), "--run-now")
			r.expect(t, 1)
			if !strings.Contains(r.stdout, tt.code) {
				t.Errorf("summary lacks %q:\n%s", tt.code, r.stdout)
			}
			if n := emu.Requests(a.res()); n > 1 {
				t.Errorf("%d requests: a permanent error was retried", n)
			}
			if readV2(t, a.path) != nil {
				t.Error("a secret was written")
			}
		})
	}
}

// TestValidate: --validate reports every problem with exit 2 and reaches
// neither Azure nor Vault; a valid file exits 0.
func TestValidate(t *testing.T) {
	shared(t)
	a := newAccount(t)
	r := run(t, config("", a), "--validate")
	r.expect(t, 0)
	if emu.Requests(a.res()) != 0 {
		t.Fatal("--validate called Azure")
	}
	bad := config("kv_version = 7", a) + "\n[[account]]\nname = \"x\"\n"
	r = run(t, bad, "--validate")
	r.expect(t, 2)
	for _, want := range []string{"vault.kv_version", "account[1].subscription_id", "account[1].name", "account[1].path"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	// A broken file in a real run changes nothing either.
	r = run(t, bad, "--run-now")
	r.expect(t, 2)
	if readV2(t, a.path) != nil {
		t.Fatal("a run with a broken config wrote a secret")
	}
}

// TestManagedIdentityRefused: a token endpoint that refuses keysync's
// identity header fails every account without calling ARM, with one clear
// line and no retry storm.
func TestManagedIdentityRefused(t *testing.T) {
	shared(t)
	a := newAccount(t)
	r := runEnv(t, config("", a), []string{"IDENTITY_HEADER=not-the-right-one"}, "--run-now")
	r.expect(t, 1)
	if !strings.Contains(r.stdout, "AuthenticationFailed") || !strings.Contains(r.stdout, "401") {
		t.Errorf("summary lacks AuthenticationFailed:\n%s", r.stdout)
	}
	if n := emu.Requests(a.res()); n != 0 {
		t.Errorf("ARM was called %d times without a token", n)
	}
}

var faultAuthz = armemu.Fault{Kind: armemu.FaultStatus, Status: 403, Code: "AuthorizationFailed",
	Message: "The client does not have authorization to perform action 'Microsoft.Batch/batchAccounts/regenerateKeys/action'."}

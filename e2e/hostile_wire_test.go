package e2e

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keysync/keysync/internal/armemu"
)

// These tests replay an outside attack on keysync's ARM wire: what a
// hostile or broken ARM endpoint (or a man in the middle of it) can send,
// and what keysync must do with it.

// peakKiB polls a running process's resident set until done and keeps the
// largest value seen.
func peakKiB(peak *int) func(pid int, done <-chan struct{}) {
	return func(pid int, done <-chan struct{}) {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			*peak = max(*peak, rssKiB(pid))
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}
}

// TestHostileHugeErrorBody: a 500 whose body is 1 GiB fails the account
// transiently while keysync's peak memory stays where a healthy run's is.
func TestHostileHugeErrorBody(t *testing.T) {
	shared(t)
	sick, healthy := newAccount(t), newAccount(t)
	cfg := matrixConfig("", sick, healthy)
	var base int
	runWatched(t, cfg, nil, peakKiB(&base), "--run-now").expect(t, 0)

	sick.inject(armemu.Fault{Kind: armemu.FaultHugeBody, Status: 500, Size: 1 << 30})
	defer emu.ClearFaults(sick.res())
	var peak int
	r := runWatched(t, cfg, nil, peakKiB(&peak), "--run-now", "--log-format", "json")
	r.expect(t, 1)
	t.Logf("peak RSS: healthy run %d KiB, 1 GiB error body %d KiB", base, peak)
	if base == 0 || peak == 0 {
		t.Fatal("no RSS sample")
	}
	if peak > base+64<<10 {
		t.Errorf("peak RSS %d KiB with a 1 GiB error body, a healthy run needs %d KiB", peak, base)
	}
	lines := failureLines(t, r.stderr, sick.name)
	if len(lines) != 1 || !lines[0].Transient || !strings.Contains(lines[0].Err, "larger than 65536 bytes") {
		t.Errorf("want one transient failure saying the body is too large, got %+v", lines)
	}
}

// recorder is a plain-HTTP listener that records whatever reaches it.
type recorder struct {
	mu       sync.Mutex
	requests int
	auth     int
	srv      *http.Server
	url      string
}

func newRecorder(t *testing.T) *recorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{url: "http://" + ln.Addr().String()}
	rec.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.requests++
		if r.Header.Get("Authorization") != "" {
			rec.auth++
		}
		rec.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	})}
	go func() { _ = rec.srv.Serve(ln) }()
	t.Cleanup(func() { _ = rec.srv.Close() })
	return rec
}

func (r *recorder) counts() (requests, auth int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests, r.auth
}

// TestHostileRedirectCarriesNoToken: a 307 from the HTTPS ARM endpoint to
// plain http on the same host is refused as a clear, permanent error; the
// http listener never hears a request, let alone the bearer token.
func TestHostileRedirectCarriesNoToken(t *testing.T) {
	shared(t)
	rec := newRecorder(t)
	a := newAccount(t)
	a.inject(armemu.Fault{Kind: armemu.FaultRedirect, Status: http.StatusTemporaryRedirect,
		Location: rec.url + "/subscriptions/" + a.sub + "/resourceGroups/" + a.rg + "/providers/Microsoft.Batch/batchAccounts/" + a.name + "/listKeys?api-version=2024-02-01"})
	defer emu.ClearFaults(a.res())
	before := a.requests()
	r := run(t, matrixConfig("", a), "--run-now", "--log-format", "json")
	r.expect(t, 1)
	if n, auth := rec.counts(); n != 0 || auth != 0 {
		t.Fatalf("the redirect target got %d requests, %d with an Authorization header", n, auth)
	}
	if !strings.Contains(r.stdout, "Redirect") || !strings.Contains(r.stdout, "redirect (307)") || !strings.Contains(r.stdout, "does not follow redirects") {
		t.Errorf("summary does not say a redirect was refused:\n%s", r.stdout)
	}
	if got := a.requests() - before; got != 1 {
		t.Errorf("%d attempts; a refused redirect is permanent, want 1", got)
	}
	if readV2(t, a.path) != nil {
		t.Error("a redirected account was written")
	}
}

// TestHostileMalformedKeyKeepsVault: a well-formed 200 whose primary is
// control characters fails the account, names the field (never the value)
// and leaves Vault's good value and version alone.
func TestHostileMalformedKeyKeepsVault(t *testing.T) {
	shared(t)
	a, b := newAccount(t), newAccount(t)
	cfg := matrixConfig("", a, b)
	run(t, cfg, "--run-now").expect(t, 0)
	good := readV2(t, a.path)
	b.regenerate(t, "primary")

	const hostile = "\u0000\u001b[2J\n"
	a.inject(armemu.Fault{Kind: armemu.FaultBadKey, Field: "primary", Value: hostile})
	defer emu.ClearFaults(a.res())
	r := run(t, cfg, "--run-now")
	r.expect(t, 1)
	if !strings.Contains(r.stdout, "MalformedKey") || !strings.Contains(r.stdout, "field primary is malformed") {
		t.Errorf("summary does not name the malformed field:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout+r.stderr, "\x1b[2J") {
		t.Error("the hostile value reached the output")
	}
	after := readV2(t, a.path)
	if after.version != good.version || after.data["primary"] != good.data["primary"] {
		t.Errorf("Vault changed: version %d -> %d", good.version, after.version)
	}
	assertTruth(t, b)
}

// TestHostileCutBodyIsTransient: a 503 whose body is cut mid-stream is a
// transient failure, retried in the run, not CredentialUnavailable.
func TestHostileCutBodyIsTransient(t *testing.T) {
	shared(t)
	a := newAccount(t)
	a.inject(armemu.Fault{Kind: armemu.FaultCutBody, Status: http.StatusServiceUnavailable})
	defer emu.ClearFaults(a.res())
	before := a.requests()
	r := run(t, matrixConfig("", a), "--run-now", "--log-format", "json")
	r.expect(t, 1)
	if got := a.requests() - before; got != 2 {
		t.Errorf("%d attempts, want 2 (the one in-run retry)", got)
	}
	lines := failureLines(t, r.stderr, a.name)
	if len(lines) != 1 || !lines[0].Transient || strings.Contains(lines[0].Err, "CredentialUnavailable") {
		t.Errorf("want one transient failure, got %+v", lines)
	}
	if strings.Contains(r.stdout, "CredentialUnavailable") || !strings.Contains(r.stdout, "HTTP 503") {
		t.Errorf("summary:\n%s", r.stdout)
	}
}

// TestHostileAbsurdRetryAfter: Retry-After: 999999999999999999 does not
// overflow into a quick retry, and one past backoff_max is not waited for
// either: the run fails the account at once, well before the minute it
// was asked to wait.
func TestHostileAbsurdRetryAfter(t *testing.T) {
	shared(t)
	tests := []struct {
		name, retryAfter, top string
	}{
		{"overflowing", "999999999999999999", ""},
		{"past backoff_max", "60", "backoff_base = \"1s\"\nbackoff_max = \"2s\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newAccount(t)
			a.inject(armemu.Fault{Kind: armemu.FaultStatus, Status: 503, Code: "ServiceUnavailable", Message: "later", RetryAfterRaw: tt.retryAfter})
			defer emu.ClearFaults(a.res())
			before := a.requests()
			r := run(t, tt.top+matrixConfig("", a), "--run-now")
			r.expect(t, 1)
			if got := a.requests() - before; got != 1 {
				t.Errorf("%d attempts; Retry-After %s must not be retried in the run", got, tt.retryAfter)
			}
			if r.elapsed > 30*time.Second {
				t.Errorf("the run took %v", r.elapsed)
			}
		})
	}
}

// ownIdentity is a user-assigned managed identity of the test's own: its
// tokens, token faults and Resource Graph quota are its alone.
func ownIdentity() string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", seq.Add(1)) }

// brokenIdentity makes a user-assigned identity of its own whose token
// requests the emulator fails with f, until the test ends.
func brokenIdentity(t *testing.T, f armemu.Fault) string {
	clientID := ownIdentity()
	emu.InjectTokenFault(clientID, f)
	t.Cleanup(func() { emu.ClearTokenFaults(clientID) })
	return clientID
}

// withClientID makes cfg's managed-identity credential the one of clientID.
func withClientID(cfg, clientID string) string {
	return strings.Replace(cfg, "credential = \"managed-identity\"\n", "credential = \"managed-identity\"\nclient_id = \""+clientID+"\"\n", 1)
}

// TestHostileCredentialFailureIsShared: with the managed-identity endpoint
// failing, 200 accounts fail fast with the one error, and the endpoint is
// asked a handful of times, not once (or four times) per account.
func TestHostileCredentialFailureIsShared(t *testing.T) {
	shared(t)
	clientID := brokenIdentity(t, armemu.Fault{Kind: armemu.FaultStatus, Status: 500, Message: "the identity endpoint is down"})
	accts := make([]account, 200)
	for i := range accts {
		accts[i] = newAccount(t)
	}
	cfg := withClientID(config("", accts...), clientID)
	r := run(t, cfg, "--run-now")
	r.expect(t, 1)
	if r.elapsed > waitFloor {
		t.Errorf("200 accounts with a failed credential took %v", r.elapsed)
	}
	t.Logf("200 accounts: %v, %d token requests", r.elapsed.Round(time.Millisecond), emu.TokenRequests(clientID))
	if n := emu.TokenRequests(clientID); n < 1 || n > 4 {
		t.Errorf("the identity endpoint was asked %d times, want 1 to 4", n)
	}
	if n := strings.Count(r.stdout, "AuthenticationFailed"); n != 200 {
		t.Errorf("%d accounts report AuthenticationFailed, want 200", n)
	}
	for _, a := range accts[:3] {
		if a.requests() != 0 {
			t.Errorf("%s: ARM was called without a token", a.name)
		}
	}
}

// TestHostileCredentialFailureDaemonBacksOffOnce: in the daemon, accounts
// that a failed credential fails share one backoff, so the identity
// endpoint is asked about once per backoff, not once per account.
func TestHostileCredentialFailureDaemonBacksOffOnce(t *testing.T) {
	shared(t)
	clientID := brokenIdentity(t, armemu.Fault{Kind: armemu.FaultStatus, Status: 500, Message: "the identity endpoint is down"})
	accts := make([]account, 30)
	for i := range accts {
		accts[i] = newAccount(t)
	}
	d := startDaemon(t, func(addr string) string { return withClientID(daemonConfig(addr, "", accts...), clientID) })
	d.waitFor("the first failures", 10*time.Second, func() bool { return d.logLines("transient failure; backing off") >= len(accts) })
	// Three failed syncs of every account (backoff 1 s, 2 s, 4 s): 90
	// failures in all, that one shared backoff answers with a token
	// request or so per round, never one per account. A round is one
	// failed sync of each account; counted after the token requests, the
	// rounds are never too few, however slowly they came.
	d.waitCycles(3, 30*time.Second, accts...)
	n := emu.TokenRequests(clientID)
	rounds := 0
	for _, a := range accts {
		rounds = max(rounds, int(d.syncs(a.name)))
	}
	t.Logf("%d token requests for %d rounds of %d failed syncs", n, rounds, len(accts))
	if n < 1 || n > rounds+2 {
		t.Errorf("the identity endpoint was asked %d times over %d rounds of failed syncs of 30 accounts, want 1 to %d", n, rounds, rounds+2)
	}
}

// TestHostileHugeTokenBody: the managed-identity endpoint's answer is
// bounded like ARM's: a 1 GiB token error body leaves memory flat.
func TestHostileHugeTokenBody(t *testing.T) {
	shared(t)
	clientID := brokenIdentity(t, armemu.Fault{Kind: armemu.FaultHugeBody, Status: 500, Size: 1 << 30})
	a := newAccount(t)
	var peak int
	r := runWatched(t, withClientID(matrixConfig("", a), clientID), nil, peakKiB(&peak), "--run-now")
	r.expect(t, 1)
	t.Logf("peak RSS with a 1 GiB token error body: %d KiB", peak)
	if peak == 0 || peak > 100<<10 {
		t.Errorf("peak RSS %d KiB, want under 100 MiB", peak)
	}
	if !strings.Contains(r.stdout, "AuthenticationFailed") {
		t.Errorf("summary:\n%s", r.stdout)
	}
}

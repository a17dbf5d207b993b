package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/keysync/keysync/internal/armemu"
	"github.com/keysync/keysync/internal/testenv"
)

// apiToken writes a token file for the daemon and returns the top-level
// config line that names it, and the token.
func apiToken(t *testing.T) (string, string) {
	t.Helper()
	tok := fmt.Sprintf("e2e-token-%d-%d", time.Now().UnixNano(), seq.Add(1))
	path := filepath.Join(t.TempDir(), "api-token")
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("api.token_file = %q", path) + "\napi.sync_min_interval = \"30s\"", tok
}

// idleDaemonConfig is daemonConfig with a daily schedule, counted from
// the start (not an hourly one, whose tick may come during a test), and
// no sync on start, so that only triggers make requests.
func idleDaemonConfig(addr, top string, accounts ...account) string {
	return strings.Replace(daemonConfig(addr, "sync_on_start = false\n"+top, accounts...), `"@every 1s"`, `"@every 24h"`, 1)
}

// call sends method path to the daemon with the token as bearer when it
// is set.
func (d *daemonProc) call(method, path, token string) (int, http.Header, string) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), httpBound)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, "http://"+d.addr+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func totalRequests(accts ...account) int {
	n := 0
	for _, a := range accts {
		n += a.requests()
	}
	return n
}

// TestListenOperatorEndpointsOffByDefault: without [api] token_file,
// POST /sync and GET /status answer 404 and nothing reaches ARM.
func TestListenOperatorEndpointsOffByDefault(t *testing.T) {
	shared(t)
	a := newAccount(t)
	d := startDaemon(t, func(addr string) string { return idleDaemonConfig(addr, "", a) })
	for range 20 {
		if code, _, body := d.call("POST", "/sync", ""); code != http.StatusNotFound {
			t.Fatalf("anonymous POST /sync with the API off: %d %s, want 404", code, body)
		}
	}
	if code, _, _ := d.call("GET", "/status", ""); code != http.StatusNotFound {
		t.Fatalf("GET /status with the API off: %d, want 404", code)
	}
	if n := a.requests(); n != 0 {
		t.Fatalf("%d ARM requests after refused POST /sync", n)
	}
	// SIGUSR1 still works locally. Once its sync is done, one request in
	// all, and a signal that found no full sync pending, prove the refused
	// POSTs started none.
	d.signal(syscall.SIGUSR1)
	d.waitFor("a sync after SIGUSR1", 5*time.Second, func() bool { return d.syncs(a.name) == 1 })
	if n := a.requests(); n != 1 || d.logLines("already pending or running") != 0 {
		t.Fatalf("%d ARM requests after refused POST /sync and one SIGUSR1", n)
	}
}

// TestListenSyncNeedsTheToken: with a token file, a request without the
// token or with a wrong one is 401 and does nothing; the right one is 202.
func TestListenSyncNeedsTheToken(t *testing.T) {
	shared(t)
	a := newAccount(t)
	top, tok := apiToken(t)
	d := startDaemon(t, func(addr string) string { return idleDaemonConfig(addr, top, a) })
	for _, bad := range []string{"", "wrong-" + tok, tok[:len(tok)-1]} {
		code, h, body := d.call("POST", "/sync", bad)
		if code != http.StatusUnauthorized || h.Get("WWW-Authenticate") == "" {
			t.Fatalf("POST /sync with token %q...: %d %s, want 401", bad[:min(len(bad), 4)], code, body)
		}
		if code, _, _ := d.call("GET", "/status", bad); code != http.StatusUnauthorized {
			t.Fatalf("GET /status with a bad token: %d, want 401", code)
		}
	}
	if n := a.requests(); n != 0 {
		t.Fatalf("%d ARM requests after unauthorized POST /sync", n)
	}
	// "started", not "coalesced": no full sync was pending; one request
	// once it is done: none had run.
	if code, _, body := d.call("POST", "/sync", tok); code != http.StatusAccepted || !strings.Contains(body, "started") {
		t.Fatalf("POST /sync with the token: %d %s, want 202 started", code, body)
	}
	d.waitFor("the requested sync", 5*time.Second, func() bool { return d.syncs(a.name) == 1 })
	if n := a.requests(); n != 1 {
		t.Fatalf("%d ARM requests after one authorized POST /sync", n)
	}
	if n := d.metric(`keysync_sync_requests_total{result="unauthorized"}`); n != 3 {
		t.Errorf("%v unauthorized POST /sync counted, want 3", n)
	}
}

// TestListenSyncBurstIsBounded: 300 authorized POST /sync in three seconds
// (three clients, one request every 30 ms each) over three accounts cost
// at most two syncs of each (issue 10 measured 242 ARM calls for this).
func TestListenSyncBurstIsBounded(t *testing.T) {
	shared(t)
	accts := []account{newAccount(t), newAccount(t), newAccount(t)}
	top, tok := apiToken(t)
	d := startDaemon(t, func(addr string) string { return idleDaemonConfig(addr, top, accts...) })
	accepted, limited, other := syncBurst(d, tok)
	// Only a started full sync makes requests, and sync_min_interval (30 s)
	// lets one start; once it is done and no account is running or owed a
	// sync (next run a day away), nothing more can come.
	d.waitFor("the requested syncs to finish", 10*time.Second, func() bool {
		for _, a := range accts {
			st, ok := d.statusOf(tok, a.name)
			if !ok || st.LastResult == "" || !st.scheduledLater() {
				return false
			}
		}
		return true
	})
	if n := d.metric(`keysync_sync_requests_total{result="started"}`); n != 1 {
		t.Errorf("%v full syncs started by the burst, want 1", n)
	}
	if n := totalRequests(accts...); n > 2*len(accts) {
		t.Fatalf("%d ARM requests after 300 POST /sync over %d accounts, want at most %d", n, len(accts), 2*len(accts))
	}
	if accepted < 1 || other != 0 || accepted+limited != 300 {
		t.Fatalf("answers: %d accepted, %d rate limited, %d other", accepted, limited, other)
	}
	t.Logf("300 POST /sync: %d ARM requests, %d accepted, %d rate limited", totalRequests(accts...), accepted, limited)
	_, metrics := d.get("/metrics")
	want := fmt.Sprintf(`keysync_sync_requests_total{result="rate_limited"} %d`, limited)
	if !strings.Contains(metrics, want) || !strings.Contains(metrics, "keysync_vault_up 1") {
		t.Fatalf("metrics lack %q or keysync_vault_up 1:\n%s", want, grep(metrics, "keysync_"))
	}
}

// syncBurst sends 300 authorized POST /sync, three clients one every 30 ms
// each, and counts the answers: 202, 429 with Retry-After, anything else.
func syncBurst(d *daemonProc, tok string) (accepted, limited, other int64) {
	var acc, lim, oth atomic.Int64
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pace := time.NewTicker(30 * time.Millisecond)
			defer pace.Stop()
			for range 100 {
				<-pace.C
				switch code, retry := postSync(d.t.Context(), d.addr, tok); {
				case code == http.StatusAccepted:
					acc.Add(1)
				case code == http.StatusTooManyRequests && retry != "":
					lim.Add(1)
				default:
					oth.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return acc.Load(), lim.Load(), oth.Load()
}

// postSync sends one authorized POST /sync: the status (0 for no answer)
// and the Retry-After header.
func postSync(ctx context.Context, addr, tok string) (int, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/sync", nil)
	if err != nil {
		return 0, ""
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, ""
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

// TestListenIdleConnectionsClosed: 300 keep-alive connections that went
// idle after a request are all closed by the server (its idle timeout is
// 10 s; each client gives up a minute after its request); those beyond the
// connection bound sooner.
func TestListenIdleConnectionsClosed(t *testing.T) {
	shared(t)
	a := newAccount(t)
	d := startDaemon(t, func(addr string) string { return idleDaemonConfig(addr, "", a) })
	const n = 300
	var served, closed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range n {
		c, err := (&net.Dialer{}).DialContext(t.Context(), "tcp", d.addr)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetDeadline(time.Now().Add(waitFloor))
			if idleAfterOneRequest(c) {
				served.Add(1)
			}
			// Anything but the deadline means the server closed it.
			if _, err := io.Copy(io.Discard, c); !errors.Is(err, os.ErrDeadlineExceeded) {
				closed.Add(1)
			}
		}()
	}
	wg.Wait()
	t.Logf("%d idle connections closed within %v of the first dial (%d served)", closed.Load(), time.Since(start).Round(time.Millisecond), served.Load())
	if closed.Load() != n {
		t.Fatalf("%d of %d idle connections still open %v after their request (%d were served)", n-closed.Load(), n, waitFloor, served.Load())
	}
	if served.Load() < 100 {
		t.Fatalf("only %d of %d connections were served before being closed", served.Load(), n)
	}
}

// idleAfterOneRequest sends one keep-alive GET /healthz on c and reads the
// answer; it reports whether the answer was 200.
func idleAfterOneRequest(c net.Conn) bool {
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: keysync\r\n\r\n"); err != nil {
		return false
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// TestListenReadyzTerseAndFresh: anonymous /readyz says only whether the
// daemon is ready (no Vault address, no error text); a sealed Vault shows
// as 503 once the probe's cache (1 s) and a probe begun before the seal
// (bounded by 2 s) are past; the token holder sees the details.
func TestListenReadyzTerseAndFresh(t *testing.T) {
	exclusive(t) // it seals the one Vault
	a := newAccount(t)
	top, tok := apiToken(t)
	// Daily: no account can become overdue during the test, so a 503
	// can only come from the Vault check.
	d := startDaemon(t, func(addr string) string { return idleDaemonConfig(addr, top, a) })
	d.waitFor("readiness", 10*time.Second, func() bool { code, _ := d.get("/readyz"); return code == http.StatusOK })
	if _, body := d.get("/readyz"); strings.TrimSpace(body) != `{"ready":true}` {
		t.Fatalf("anonymous /readyz: %s, want only {\"ready\":true}", body)
	}
	if err := vault.Seal(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = vault.Unseal() })
	// A lower bound, not a race: by then every answer cached from before
	// the seal is stale (internal/server's probeMaxAge + probeTimeout, and
	// a second for the probe's own bookkeeping), so the next /readyz
	// probes afresh, however slowly it is served.
	fresh := time.Now().Add(time.Second + 2*time.Second + time.Second)
	eventually(t, 0, func() (bool, string) { return time.Now().After(fresh), "every answer from before the seal to be stale" })
	code, body := d.get("/readyz")
	if code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz %d %s once every answer from before the seal is stale, want 503", code, body)
	}
	vaultAddr := strings.TrimPrefix(strings.TrimPrefix(vaultEnv("VAULT_ADDR"), "http://"), "https://")
	if strings.TrimSpace(body) != `{"ready":false}` || strings.Contains(body, vaultAddr) {
		t.Fatalf("anonymous /readyz while sealed: %s, want only {\"ready\":false}", body)
	}
	if code, _, body := d.call("GET", "/readyz", tok); code != http.StatusServiceUnavailable || !strings.Contains(body, "sealed") {
		t.Fatalf("/readyz with the token while sealed: %d %s, want the details", code, body)
	}
	if err := vault.Unseal(); err != nil {
		t.Fatal(err)
	}
	d.waitFor("readiness after unseal", 5*time.Second, func() bool { code, _ := d.get("/readyz"); return code == http.StatusOK })
}

func vaultEnv(name string) string {
	for _, kv := range vault.Env() {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}

// statusAccount is the part of GET /status's account the test reads.
type statusAccount struct {
	Account             string    `json:"account"`
	Running             bool      `json:"running"`
	LastResult          string    `json:"last_result"`
	LastRun             time.Time `json:"last_run"`
	LastSuccess         time.Time `json:"last_success"`
	NextRun             time.Time `json:"next_run"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	ErrorCode           string    `json:"error_code"`
	Rotation            *struct {
		Enabled bool `json:"enabled"`
		Pending bool `json:"pending"`
	} `json:"rotation"`
}

// TestListenStatus: GET /status lists every account with its last
// result, last success, next run, failures, error code and rotation, and
// no key; keysync status prints it as a table.
func TestListenStatus(t *testing.T) {
	shared(t)
	good, bad := newAccount(t), newAccount(t)
	bad.inject(armemu.Fault{Kind: armemu.FaultStatus, Status: 403, Code: "AuthorizationFailed", Message: "The client has no authorization."})
	top, tok := apiToken(t)
	d := startDaemon(t, func(addr string) string { return daemonConfig(addr, top, good, bad) })
	// Waits on what /status shows, not on the emulator's count of the bad
	// account's requests: with one core, the bad account failed twice
	// while the good one's first sync was still writing to Vault.
	var body string
	var g, b statusAccount
	d.waitFor("a sync of the healthy account and a failure of the other in /status", 10*time.Second, func() bool {
		var code int
		code, _, body = d.call("GET", "/status", tok)
		if code != http.StatusOK {
			t.Fatalf("GET /status: %d %s", code, body)
		}
		var reply struct{ Accounts []statusAccount }
		if err := json.Unmarshal([]byte(body), &reply); err != nil || len(reply.Accounts) != 2 {
			t.Fatalf("GET /status: %v\n%s", err, body)
		}
		byName := map[string]statusAccount{}
		for _, s := range reply.Accounts {
			byName[s.Account] = s
		}
		g, b = byName[good.name], byName[bad.name]
		return !g.LastRun.IsZero() && !b.LastRun.IsZero() && bad.requests() >= 2
	})
	assertNoKeys(t, body)
	for _, banned := range []string{"fingerprint", "sha256", "primary", "secondary"} {
		if strings.Contains(strings.ToLower(body), banned) {
			t.Fatalf("GET /status mentions %q: %s", banned, body)
		}
	}
	if g.LastResult == "" || g.LastRun.IsZero() || g.LastSuccess.IsZero() || g.NextRun.IsZero() || g.ConsecutiveFailures != 0 || g.ErrorCode != "" || g.Rotation == nil {
		t.Errorf("healthy account's status: %+v", g)
	}
	if b.LastResult != "failed" || b.ConsecutiveFailures < 1 || b.ErrorCode != "AuthorizationFailed" || !b.LastSuccess.IsZero() || b.NextRun.IsZero() {
		t.Errorf("failing account's status: %+v", b)
	}
	assertStatusCommand(t, d, good, bad)
}

// assertStatusCommand runs keysync status against the daemon: a table
// with both accounts and exit 0; exit 3 for no daemon; exit 2 for a bad
// flag.
func assertStatusCommand(t *testing.T, d *daemonProc, good, bad account) {
	t.Helper()
	out, code := runStatusCommand(t, "--config", d.cfgPath)
	if code != 0 || !strings.Contains(out, "ACCOUNT") || !strings.Contains(out, "LAST SUCCESS") || !strings.Contains(out, good.name) ||
		!strings.Contains(out, bad.name) || !strings.Contains(out, "AuthorizationFailed") {
		t.Fatalf("keysync status --config: exit %d\n%s", code, out)
	}
	assertNoKeys(t, out)
	if out, code := runStatusCommand(t, "--addr", d.addr); code != 1 || !strings.Contains(out, "--token-file") {
		t.Fatalf("keysync status without a token: exit %d, want 1 and a hint\n%s", code, out)
	}
	addr, err := testenv.FreeAddr()
	must(t, err)
	if out, code := runStatusCommand(t, "--addr", addr); code != 3 {
		t.Fatalf("keysync status with no daemon: exit %d, want 3\n%s", code, out)
	}
	if out, code := runStatusCommand(t, "--bogus"); code != 2 {
		t.Fatalf("keysync status --bogus: exit %d, want 2\n%s", code, out)
	}
}

func runStatusCommand(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), keysyncBin, append([]string{"status"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

// TestListenRefusesUnsafeTokenFile: a token file that group or others can
// read, or that holds a short token, stops the daemon at start, and the
// error says why without quoting the file.
func TestListenRefusesUnsafeTokenFile(t *testing.T) {
	shared(t)
	a := newAccount(t)
	tests := []struct {
		name, content, want string
		mode                os.FileMode
	}{
		{"readable by others", "0123456789abcdef-open", "others can read or change it", 0o644},
		{"short", "short-token", "want at least 16", 0o600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "api-token")
			if err := os.WriteFile(path, []byte(tt.content), tt.mode); err != nil {
				t.Fatal(err)
			}
			listen, err := testenv.FreeAddr()
			must(t, err)
			r := run(t, idleDaemonConfig(listen, fmt.Sprintf("api.token_file = %q", path), a))
			r.expect(t, 2) // an unusable token file is a configuration error
			if !strings.Contains(r.stderr, tt.want) || strings.Contains(r.stderr, tt.content) {
				t.Fatalf("stderr lacks %q or quotes the token:\n%s", tt.want, r.stderr)
			}
			if a.requests() != 0 {
				t.Fatal("the daemon synced before refusing its token file")
			}
		})
	}
}

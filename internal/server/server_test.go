package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/account"
	"github.com/keysync/keysync/sync/plan"
	"github.com/keysync/keysync/sync/runner"
	"github.com/keysync/keysync/sync/scheduler"
)

const testToken = "0123456789abcdef-test-token"

// countingSyncer counts syncs; each waits for release when it is set.
type countingSyncer struct {
	calls   atomic.Int64
	release chan struct{}
}

func (c *countingSyncer) Sync(ctx context.Context, job account.Job) runner.Result {
	c.calls.Add(1)
	if c.release != nil {
		select {
		case <-c.release:
		case <-ctx.Done():
		}
	}
	return runner.Result{Job: job, Change: plan.Change{Action: plan.Unchanged}}
}

// countingScheduler counts the full syncs the server started: a POST
// /sync reaches the scheduler, or not, before it is answered, so a test
// can count them at once instead of waiting to see whether syncs come.
type countingScheduler struct {
	*scheduler.Scheduler
	started atomic.Int64
}

func (c *countingScheduler) TriggerAll() bool {
	ok := c.Scheduler.TriggerAll()
	if ok {
		c.started.Add(1)
	}
	return ok
}

// started is how many full syncs s's requests started.
func started(s *Server) int64 { return s.Scheduler.(*countingScheduler).started.Load() }

// statuses are every account's, as GET /status lists them.
func statuses(s *Server) []scheduler.AccountStatus {
	list, _ := s.Scheduler.StatusAtMost(time.Now(), MaxStatusAccounts)
	return list
}

// waitSettled waits until every account of s has finished a sync and none
// runs: every sync started so far has been counted by the syncer, and
// with hourly schedules no other comes.
func waitSettled(t *testing.T, s *Server) {
	t.Helper()
	waitFor(t, "every account synced, none running", func() bool {
		for _, a := range statuses(s) {
			if a.Running || a.LastRun.IsZero() {
				return false
			}
		}
		return true
	})
}

// newTestServer runs a real scheduler over two accounts (hourly, no sync
// on start) behind a Server; token, when set, is written to a 0600 file.
func newTestServer(t *testing.T, syncer *countingSyncer, token string, every time.Duration) (*Server, http.Handler) {
	t.Helper()
	sched, _ := cron.ParseStandard("@every 1h")
	var accts []scheduler.Account
	for _, n := range []string{"acct1", "acct2"} {
		accts = append(accts, scheduler.Account{Label: n, Schedule: &scheduler.Schedule{Spec: "@every 1h", Schedule: sched},
			Job: account.Job{Account: sources.Account{SubscriptionID: "s", ResourceGroup: "rg", Name: n}, Path: "azure/" + n}})
	}
	sch := scheduler.New(scheduler.Options{Concurrency: 4, ShutdownGrace: time.Second}, syncer, accts)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = sch.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	s := &Server{Scheduler: &countingScheduler{Scheduler: sch}, Logger: slog.New(slog.DiscardHandler), Metrics: http.NotFoundHandler(), SyncMinInterval: every,
		Vault: NewVaultProbe(func(context.Context) error { return nil }, time.Hour, slog.New(slog.DiscardHandler))}
	if token != "" {
		s.Token = mustToken(t, token, 0o600)
	}
	return s, s.Handler()
}

func mustToken(t *testing.T, token string, mode os.FileMode) *Token {
	t.Helper()
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte(token+"\n"), mode); err != nil {
		t.Fatal(err)
	}
	tok, err := LoadToken(path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func do(h http.Handler, method, path, auth string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestOperatorEndpointsOffWithoutToken(t *testing.T) {
	syncer := &countingSyncer{}
	s, h := newTestServer(t, syncer, "", 0)
	for _, ep := range [][2]string{{"POST", "/sync"}, {"GET", "/status"}} {
		if w := do(h, ep[0], ep[1], "Bearer "+testToken); w.Code != http.StatusNotFound {
			t.Errorf("%s %s with the API off: %d, want 404", ep[0], ep[1], w.Code)
		}
	}
	if n, m := started(s), syncer.calls.Load(); n != 0 || m != 0 {
		t.Fatalf("refused requests started %d full syncs, %d syncs ran", n, m)
	}
}

func TestBearerAuth(t *testing.T) {
	tests := []struct {
		name, auth string
		want       int
	}{
		{"no header", "", http.StatusUnauthorized},
		{"basic scheme", "Basic " + testToken, http.StatusUnauthorized},
		{"wrong token", "Bearer 0123456789abcdef-test-tokeX", http.StatusUnauthorized},
		{"prefix of the token", "Bearer 0123456789abcdef", http.StatusUnauthorized},
		{"empty bearer", "Bearer ", http.StatusUnauthorized},
		{"right token", "Bearer " + testToken, http.StatusOK},
		{"scheme in lower case", "bearer " + testToken, http.StatusOK},
	}
	syncer := &countingSyncer{}
	s, h := newTestServer(t, syncer, testToken, time.Hour)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := do(h, "GET", "/status", tt.auth)
			if w.Code != tt.want {
				t.Fatalf("GET /status: %d, want %d: %s", w.Code, tt.want, w.Body)
			}
			if tt.want == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
			if w := do(h, "POST", "/sync", tt.auth); tt.want == http.StatusUnauthorized && w.Code != tt.want {
				t.Fatalf("POST /sync: %d, want %d", w.Code, tt.want)
			}
		})
	}
	if n := started(s); n != 1 {
		t.Fatalf("%d full syncs started, want 1 (from the first authorized POST)", n)
	}
	waitSettled(t, s)
	if n := syncer.calls.Load(); n != 2 {
		t.Fatalf("%d syncs, want 2 (one full sync of the two accounts)", n)
	}
}

func TestSyncRateLimited(t *testing.T) {
	_, h := newTestServer(t, &countingSyncer{}, testToken, time.Hour)
	if w := do(h, "POST", "/sync", "Bearer "+testToken); w.Code != http.StatusAccepted || !strings.Contains(w.Body.String(), `"started"`) {
		t.Fatalf("first POST /sync: %d %s", w.Code, w.Body)
	}
	w := do(h, "POST", "/sync", "Bearer "+testToken)
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "3600" {
		t.Fatalf("second POST /sync within the interval: %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
}

func TestSyncCoalesced(t *testing.T) {
	syncer := &countingSyncer{release: make(chan struct{})}
	s, h := newTestServer(t, syncer, testToken, time.Nanosecond)
	if w := do(h, "POST", "/sync", "Bearer "+testToken); !strings.Contains(w.Body.String(), `"started"`) {
		t.Fatalf("first POST /sync: %d %s", w.Code, w.Body)
	}
	for range 50 {
		time.Sleep(time.Microsecond)
		if w := do(h, "POST", "/sync", "Bearer "+testToken); w.Code != http.StatusAccepted || !strings.Contains(w.Body.String(), `"coalesced"`) {
			t.Fatalf("POST /sync during a full sync: %d %s", w.Code, w.Body)
		}
	}
	close(syncer.release)
	if n := started(s); n != 1 {
		t.Fatalf("%d full syncs started by 51 requests during one, want 1", n)
	}
	waitSettled(t, s)
	if n := syncer.calls.Load(); n != 2 {
		t.Fatalf("%d syncs after 51 requests during one full sync, want 2", n)
	}
}

func TestReadyzTerseForAnonymous(t *testing.T) {
	s, h := newTestServer(t, &countingSyncer{}, testToken, time.Hour)
	s.Vault.SetCheck(func(context.Context) error {
		return errors.New(`Get "https://vault.internal:8200/v1/auth/token/lookup-self": dial tcp 10.0.0.5:8200: connection refused`)
	})
	w := do(h, "GET", "/readyz", "")
	if w.Code != http.StatusServiceUnavailable || strings.TrimSpace(w.Body.String()) != `{"ready":false}` {
		t.Fatalf("anonymous /readyz: %d %s", w.Code, w.Body)
	}
	w = do(h, "GET", "/readyz", "Bearer "+testToken)
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "connection refused") {
		t.Fatalf("/readyz with the token: %d %s", w.Code, w.Body)
	}
}

func TestStatusBody(t *testing.T) {
	s, h := newTestServer(t, &countingSyncer{}, testToken, time.Hour)
	s.PendingRotations = func() []string { return []string{"azure/acct2"} }
	w := do(h, "GET", "/status", "Bearer "+testToken)
	for _, want := range []string{`"account":"acct1"`, `"account":"acct2"`, `"path":"azure/acct1"`, `"consecutive_failures":0`, `"next_run":`,
		`"path":"azure/acct1","subscription_id":"s","resource_group":"rg","name":"acct1","type":"batch","running":false,"last_result":"",` +
			`"next_run":"`, `"rotation":{"enabled":false,"pending":false}`, `"rotation":{"enabled":false,"pending":true}`} {
		if !strings.Contains(w.Body.String(), want) {
			t.Errorf("GET /status lacks %s: %s", want, w.Body)
		}
	}
}

// TestServerLimits: the server Start builds has every timeout and bound.
func TestServerLimits(t *testing.T) {
	s, _ := newTestServer(t, &countingSyncer{}, "", 0)
	if _, err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	d := DefaultLimits
	got := s.limits()
	got.ReadHeaderTimeout, got.ReadTimeout, got.WriteTimeout = s.srv.ReadHeaderTimeout, s.srv.ReadTimeout, s.srv.WriteTimeout
	got.IdleTimeout, got.MaxHeaderBytes = s.srv.IdleTimeout, s.srv.MaxHeaderBytes
	if got != d || d.ReadHeaderTimeout <= 0 || d.ReadTimeout <= 0 || d.WriteTimeout <= 0 || d.IdleTimeout <= 0 || d.MaxHeaderBytes <= 0 ||
		d.MaxHandlers <= 0 || d.MaxHandlers >= d.MaxConns || s.srv.ConnState == nil {
		t.Fatalf("server limits %+v, want %+v, all set, fewer handlers than connections", got, d)
	}
}

func TestTokenFile(t *testing.T) {
	tests := []struct {
		name, content string
		mode          os.FileMode
		wantErr       string
	}{
		{"good", testToken + "\n", 0o600, ""},
		{"readable by its own group", testToken + "\n", 0o640, ""},
		{"writable by group", testToken, 0o660, "its group can change it"},
		{"readable by others", testToken, 0o604, "others can read or change it"},
		{"short", "0123456789abcde", 0o600, "at least 16"},
		{"two words", "0123456789abcdef 0123456789abcdef", 0o600, "printable ASCII"},
		{"too large", strings.Repeat("a", 5000), 0o600, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "token")
			if err := os.WriteFile(path, []byte(tt.content), tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil { // past the umask
				t.Fatal(err)
			}
			_, err := LoadToken(path, slog.New(slog.DiscardHandler))
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("LoadToken: %v, want %q", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "0123456789") {
				t.Fatalf("the error quotes the file's content: %v", err)
			}
		})
	}
}

// TestTokenFileReread: a changed file takes effect without a restart; a
// file made readable by others refuses everyone.
func TestTokenFileReread(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	write := func(s string, mode os.FileMode) {
		if err := os.WriteFile(path, []byte(s), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
	write(testToken, 0o600)
	tok, err := LoadToken(path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	req := func(tk string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/status", nil)
		r.Header.Set("Authorization", "Bearer "+tk)
		return r
	}
	newTok := "fedcba9876543210-new-token"
	write(newTok+"\n", 0o600)
	if tok.Match(req(testToken)) || !tok.Match(req(newTok)) {
		t.Fatal("the new token did not replace the old one")
	}
	// A token of the same length with the mtime put back, as a restore
	// tool or a write within the mtime granularity leaves it.
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	sameLen := "0123456789abcdef-new-token"
	write(sameLen+"\n", 0o600)
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if tok.Match(req(newTok)) || !tok.Match(req(sameLen)) {
		t.Fatal("a same-length token with its mtime restored was not seen")
	}
	write(newTok+"\n", 0o644)
	if tok.Match(req(newTok)) {
		t.Fatal("a token file readable by others still let callers in")
	}
}

// TestProbeFresh: many callers at once cause one check; an answer older
// than probeMaxAge is not reused. The probe runs on the test's clock, so
// that a caller the machine starts late still finds the answer fresh, and
// the answer ages only when the test says.
func TestProbeFresh(t *testing.T) {
	var calls atomic.Int64
	release := make(chan struct{})
	p := NewVaultProbe(func(context.Context) error { calls.Add(1); <-release; return errors.New("sealed") }, time.Hour, slog.New(slog.DiscardHandler))
	var now atomic.Int64 // the test's clock, in nanoseconds
	now.Store(time.Now().UnixNano())
	p.now = func() time.Time { return time.Unix(0, now.Load()) }
	var wg, calling sync.WaitGroup
	for range 50 {
		wg.Add(1)
		calling.Add(1)
		go func() { defer wg.Done(); calling.Done(); _ = p.Fresh(context.Background()) }()
	}
	calling.Wait()
	waitFor(t, "the check", func() bool { return calls.Load() > 0 })
	close(release)
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d checks for 50 concurrent callers, want 1", n)
	}
	now.Add(int64(probeMaxAge - time.Nanosecond))
	if err := p.Fresh(context.Background()); err == nil || calls.Load() != 1 {
		t.Fatalf("a fresh answer was not reused: %v, %d checks", err, calls.Load())
	}
	now.Add(int64(time.Nanosecond))
	_ = p.Fresh(context.Background())
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d checks after the answer aged, want 2", n)
	}
}

// TestProbeTimeout: a check that hangs is cut by the probe itself, with at
// most probeTimeout to run; the caller gets the check's own error, not a
// timeout of its own (a minute: a probe without a bound would hang forever).
func TestProbeTimeout(t *testing.T) {
	var budget time.Duration
	errHung := errors.New("the check was cut")
	p := NewVaultProbe(func(ctx context.Context) error {
		d, ok := ctx.Deadline()
		if ok {
			budget = time.Until(d)
		}
		<-ctx.Done()
		return errHung
	}, time.Hour, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.Fresh(ctx); !errors.Is(err, errHung) {
		t.Fatalf("a hanging check: %v, want the check's own error", err)
	}
	if budget <= 0 || budget > probeTimeout {
		t.Fatalf("the check had %v to run, want at most probeTimeout (%v)", budget, probeTimeout)
	}
}

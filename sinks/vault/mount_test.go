package vault

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/keysync/keysync/fault"
	"github.com/keysync/keysync/internal/testenv"
	"github.com/keysync/keysync/sinks"
)

var enableTransit sync.Once

// TestMountCheck: only a KV engine mounted exactly at mount, of the
// configured version, is accepted; everything else is refused before any
// read or write, with a message that names what was found.
func TestMountCheck(t *testing.T) {
	needVault(t)
	enableTransit.Do(func() {
		if err := dev.Client.Sys().Mount("transit", &api.MountInput{Type: "transit"}); err != nil {
			t.Fatal(err)
		}
	})
	tests := []struct {
		name    string
		mount   string
		version int
		want    int    // accepted version; 0: refused
		msg     string // in the refusal
	}{
		{"v2 detected", "secret", 0, 2, ""},
		{"v1 detected", testenv.V1Mount, 0, 1, ""},
		{"v2 as set", "secret", 2, 2, ""},
		{"v1 as set", testenv.V1Mount, 1, 1, ""},
		{"version mismatch", "secret", 1, 0, "is KV version 2, but kv_version = 1"},
		{"identity with kv_version 1", "identity/entity/name", 1, 0, `"identity" secrets engine`},
		{"transit with kv_version 2", "transit", 2, 0, `"transit" secrets engine`},
		{"sys", "sys", 0, 0, `"system" secrets engine`},
		{"cubbyhole", "cubbyhole", 1, 0, `"cubbyhole" secrets engine`},
		{"inside a KV mount", "secret/team", 2, 0, `set mount = "secret"`},
		{"no such mount", "nosuchmount", 0, 0, "grant the token read on sys/internal/ui/mounts/nosuchmount"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(context.Background(), client(t, testenv.RootToken), Options{Mount: tt.mount, KVVersion: tt.version})
			if tt.want != 0 {
				if err != nil || s.knownVersion() != tt.want {
					t.Fatalf("want KV v%d accepted, got %v", tt.want, err)
				}
				return
			}
			var se *sinks.Error
			if !errors.As(err, &se) || se.Transient || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("want a permanent refusal containing %q, got %v", tt.msg, err)
			}
		})
	}
}

// TestKVFromMountInfo judges Vault's descriptions of mounts, including
// shapes the dev server cannot produce (namespaces, the legacy "generic"
// type, a missing type).
func TestKVFromMountInfo(t *testing.T) {
	v2 := map[string]any{"version": "2"}
	tests := []struct {
		name, mount string
		want        int
		data        map[string]any
		ok          int // accepted version; 0: refused
	}{
		{"kv v2", "secret", 0, map[string]any{"type": "kv", "path": "secret/", "options": v2}, 2},
		{"kv v1, no options", "kv1", 0, map[string]any{"type": "kv", "path": "kv1/", "options": nil}, 1},
		{"legacy generic", "old", 1, map[string]any{"type": "generic", "path": "old/"}, 1},
		{"child namespace", "team/secret", 2, map[string]any{"type": "kv", "path": "org/team/secret/", "options": v2}, 2},
		{"nested mount path", "apps/kv", 2, map[string]any{"type": "kv", "path": "apps/kv/", "options": v2}, 2},
		{"inside the mount", "secret/azure", 2, map[string]any{"type": "kv", "path": "secret/", "options": v2}, 0},
		{"suffix but not a segment", "cret", 2, map[string]any{"type": "kv", "path": "secret/", "options": v2}, 0},
		{"no type", "secret", 2, map[string]any{"path": "secret/", "options": v2}, 0},
		{"identity", "identity/entity/name", 1, map[string]any{"type": "identity", "path": "identity/"}, 0},
		{"version mismatch", "secret", 1, map[string]any{"type": "kv", "path": "secret/", "options": v2}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := kvFromMountInfo(tt.mount, tt.want, tt.data)
			if v != tt.ok || (err == nil) != (tt.ok != 0) {
				t.Fatalf("got v%d, %v; want v%d", v, err, tt.ok)
			}
		})
	}
}

// TestMountProbe: when the token cannot read the mount's type, kv_version
// 0 is refused with what to grant; a set version is accepted only after a
// KV-only endpoint answered as KV, never on an empty 404 (which the
// identity engine gives to any path).
func TestMountProbe(t *testing.T) {
	needVault(t)
	ctx := context.Background()
	if err := dev.Client.Sys().PutPolicy("probe-config", `path "secret/config" { capabilities = ["read"] }
path "secret/data/*" { capabilities = ["read"] }
path "secret/metadata/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	if err := dev.Client.Sys().PutPolicy("probe-narrow", `path "secret/data/*" { capabilities = ["read"] }
path "secret/metadata/*" { capabilities = ["read"] }
path "`+testenv.V1Mount+`/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	token := func(policy string) string {
		tok, err := dev.Client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{policy}})
		if err != nil {
			t.Fatal(err)
		}
		return tok.Auth.ClientToken
	}
	existing := uniquePath()
	syncOnce(t, newSink(t, "secret", 2), existing, desired("p", "s"))
	existingV1 := uniquePath()
	syncOnce(t, newSink(t, testenv.V1Mount, 1), existingV1, desired("p", "s"))
	addr := testenv.DenyMountType(t, dev.Addr)
	tests := []struct {
		name, token, mount string
		version            int
		probes             []string
		ok                 bool
		msg                string
	}{
		{"detect refused", testenv.RootToken, "secret", 0, nil, false, "grant the token read on sys/internal/ui/mounts/secret, or set kv_version"},
		{"v2 by config", token("probe-config"), "secret", 2, nil, true, ""},
		{"v2 by existing metadata", token("probe-narrow"), "secret", 2, []string{existing}, true, ""},
		{"v2 no proof", token("probe-narrow"), "secret", 2, []string{uniquePath()}, false, "none of secret/config, secret/metadata/"},
		{"v1 by existing secret", token("probe-narrow"), testenv.V1Mount, 1, []string{existingV1}, true, ""},
		{"v1 on a v2 mount", testenv.RootToken, "secret", 1, []string{existing}, false, "answered as KV version 1"},
		{"identity", testenv.RootToken, "identity/entity/name", 1, []string{"keysyncpwn"}, false, "answered as KV version 1"},
		{"identity as v2", testenv.RootToken, "identity/entity/name", 2, []string{"keysyncpwn"}, false, "answered as KV version 2"},
		{"transit", testenv.RootToken, "transit", 2, nil, false, "answered as KV version 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewClient(ClientOptions{Address: addr, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			c.SetToken(tt.token)
			s, err := Open(ctx, c, Options{Mount: tt.mount, KVVersion: tt.version, ProbePaths: tt.probes})
			if tt.ok {
				if err != nil || s.knownVersion() != tt.version {
					t.Fatalf("want accepted as v%d, got %v", tt.version, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.msg) || fault.Transient(err) {
				t.Fatalf("want a permanent refusal containing %q, got %v", tt.msg, err)
			}
		})
	}
}

// TestConcurrentMountChecksShareOneRequest: N jobs that need the mount
// checked while Vault hangs wait for one request and one timeout between
// them, not N in a row behind a lock: one request reached the hung Vault.
// The timeout gives every job 2 s to join the check in flight.
func TestConcurrentMountChecksShareOneRequest(t *testing.T) {
	const n, timeout = 8, 2 * time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var requests atomic.Int64
	release := make(chan struct{})
	hang := &http.Server{ReadHeaderTimeout: time.Minute, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		<-release
	})}
	go func() { _ = hang.Serve(ln) }()
	t.Cleanup(func() { close(release); hang.Close() })
	c, err := NewClient(ClientOptions{Address: "http://" + ln.Addr().String(), Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(testenv.RootToken)
	s, err := Open(context.Background(), c, Options{Mount: "secret", Deferred: true})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Read(context.Background(), "any")
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if !fault.Transient(err) {
			t.Fatalf("want a transient failure, got %v", err)
		}
	}
	if got := requests.Load(); got != 1 {
		t.Errorf("%d requests for %d concurrent checks, want 1", got, n)
	}
	t.Logf("%d concurrent checks against a hung Vault: %d request(s), %v", n, requests.Load(), time.Since(start))
}

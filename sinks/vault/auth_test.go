package vault

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/hashicorp/vault/api"

	"github.com/keysync/keysync/config"
	"github.com/keysync/keysync/internal/testenv"
)

var discard = slog.New(slog.DiscardHandler)

// counts tallies logins and renewals as the metrics would.
type counts struct{ logins, failures, renewals atomic.Int64 }

func (c *counts) hook(a *Auth) *Auth {
	a.OnLogin = func(_, result string) {
		if result == "success" {
			c.logins.Add(1)
		} else {
			c.failures.Add(1)
		}
	}
	a.OnRenew = func(result string) {
		if result == "success" {
			c.renewals.Add(1)
		}
	}
	return a
}

// enableAppRole mounts AppRole at mount with a role whose tokens live ttl
// and at most maxTTL, and returns the role id and a secret id file.
func enableAppRole(t *testing.T, mount, policy, ttl, maxTTL string) (roleID, secretIDFile string) {
	t.Helper()
	c := dev.Client
	if err := c.Sys().EnableAuthWithOptions(mount, &api.EnableAuthOptions{Type: "approle"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Logical().Write("auth/"+mount+"/role/keysync", map[string]any{
		"token_ttl": ttl, "token_max_ttl": maxTTL, "token_policies": policy}); err != nil {
		t.Fatal(err)
	}
	s, err := c.Logical().Read("auth/" + mount + "/role/keysync/role-id")
	if err != nil {
		t.Fatal(err)
	}
	sid, err := c.Logical().Write("auth/"+mount+"/role/keysync/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	secretIDFile = filepath.Join(t.TempDir(), "secret-id")
	writeFile(t, secretIDFile, sid.Data["secret_id"].(string), 0)
	return s.Data["role_id"].(string), secretIDFile
}

func putPolicy(t *testing.T) string {
	t.Helper()
	err := dev.Client.Sys().PutPolicy("keysync", `
path "secret/*" { capabilities = ["create", "read", "update"] }
path "sys/internal/ui/mounts/*" { capabilities = ["read"] }`)
	if err != nil {
		t.Fatal(err)
	}
	return "keysync"
}

// TestAppRoleRenewsThenLogsInAgain: a short-lived AppRole token is renewed
// several times, then, at its max TTL, replaced by a new login; the token in
// use works throughout. Vault's watcher renews with about a quarter of the
// TTL left and hands over at the max TTL with at least a tenth left: a TTL
// of 6 s leaves keysync 0.6 s or more for each (2 s gave it 0.2 s).
func TestAppRoleRenewsThenLogsInAgain(t *testing.T) {
	needVault(t)
	roleID, sidFile := enableAppRole(t, "approle-renew", putPolicy(t), "6s", "15s")
	c := client(t, "")
	var n counts
	a := n.hook(NewAuth(c, AuthOptions{VaultAuth: config.VaultAuth{Method: config.AuthAppRole, MountPath: "approle-renew", RoleID: roleID, SecretIDFile: sidFile}}, discard))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := a.Login(ctx); err != nil {
		t.Fatal(err)
	}
	go a.Run(ctx)
	deadline := time.Now().Add(time.Minute) // the second login is due at about 13 s
	for n.logins.Load() < 2 || n.renewals.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("after a minute: %d logins, %d renewals", n.logins.Load(), n.renewals.Load())
		}
		if _, err := c.Auth().Token().LookupSelf(); err != nil {
			t.Fatalf("the token in use stopped working: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n.failures.Load() != 0 {
		t.Errorf("%d failed logins", n.failures.Load())
	}
}

// TestRecoverAfterRevocation: a token revoked behind keysync's back makes
// the next request 403; the sink logs in again and the request succeeds.
// A 403 from a policy, with a valid token, does not cause a login.
func TestRecoverAfterRevocation(t *testing.T) {
	needVault(t)
	roleID, sidFile := enableAppRole(t, "approle-revoke", putPolicy(t), "1h", "2h")
	c := client(t, "")
	var n counts
	a := n.hook(NewAuth(c, AuthOptions{VaultAuth: config.VaultAuth{Method: config.AuthAppRole, MountPath: "approle-revoke", RoleID: roleID, SecretIDFile: sidFile}}, discard))
	ctx := context.Background()
	if err := a.Login(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, c, Options{Mount: "secret", Auth: a})
	if err != nil {
		t.Fatal(err)
	}
	if err := dev.Client.Auth().Token().RevokeTree(c.Token()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(ctx, uniquePath()); err != nil {
		t.Fatalf("read after revocation: %v", err)
	}
	if n.logins.Load() != 2 {
		t.Fatalf("%d logins, want 2", n.logins.Load())
	}
	// The policy allows nothing under kv1/: 403 with a valid token.
	s1, _ := Open(ctx, c, Options{Mount: testenv.V1Mount, KVVersion: 1, Auth: a, Deferred: true})
	if _, err := s1.Read(ctx, "x"); !isForbidden(err) {
		t.Fatalf("want 403, got %v", err)
	}
	if n.logins.Load() != 2 {
		t.Fatalf("a policy denial caused a login (%d logins)", n.logins.Load())
	}
}

// TestRevokeOnlyOwnTokens: Revoke ends a token keysync logged in for, and
// leaves a token it was handed alone.
func TestRevokeOnlyOwnTokens(t *testing.T) {
	needVault(t)
	roleID, sidFile := enableAppRole(t, "approle-own", putPolicy(t), "1h", "2h")
	ctx := context.Background()
	c := client(t, "")
	a := NewAuth(c, AuthOptions{VaultAuth: config.VaultAuth{Method: config.AuthAppRole, MountPath: "approle-own", RoleID: roleID, SecretIDFile: sidFile}}, discard)
	if err := a.Login(ctx); err != nil {
		t.Fatal(err)
	}
	own := c.Token()
	a.Revoke(ctx)
	if _, err := dev.Client.Auth().Token().Lookup(own); err == nil {
		t.Fatal("keysync's own token survived Revoke")
	}
	handed, err := dev.Client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"default"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("VAULT_TOKEN", handed.Auth.ClientToken)
	c2 := client(t, "")
	a2 := NewAuth(c2, AuthOptions{VaultAuth: config.VaultAuth{Method: config.AuthToken}}, discard)
	if err := a2.Login(ctx); err != nil {
		t.Fatal(err)
	}
	a2.Revoke(ctx)
	if _, err := dev.Client.Auth().Token().Lookup(handed.Auth.ClientToken); err != nil {
		t.Fatalf("a handed token was revoked: %v", err)
	}
}

// TestJWTLoginRereadsTheFile: each login reads jwt_file again, so a
// rewritten JWT is the one used next.
func TestJWTLoginRereadsTheFile(t *testing.T) {
	needVault(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	pub := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	c := dev.Client
	if err := c.Sys().EnableAuthWithOptions("jwt-test", &api.EnableAuthOptions{Type: "jwt"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Logical().Write("auth/jwt-test/config", map[string]any{"jwt_validation_pubkeys": []string{pub}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Logical().Write("auth/jwt-test/role/keysync", map[string]any{"role_type": "jwt", "user_claim": "sub",
		"bound_audiences": "keysync", "claim_mappings": map[string]string{"sub": "subject"}, "token_ttl": "1h", "token_policies": "default"}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "jwt")
	sign := func(sub string) {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"sub": sub, "aud": "keysync",
			"iat": time.Now().Unix(), "exp": time.Now().Add(time.Minute).Unix()}).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, file, tok, 0)
	}
	cl := client(t, "")
	a := NewAuth(cl, AuthOptions{VaultAuth: config.VaultAuth{Method: config.AuthJWT, MountPath: "jwt-test", Role: "keysync", JWTFile: file}}, discard)
	subject := func() string {
		s, err := cl.Auth().Token().LookupSelf()
		if err != nil {
			t.Fatal(err)
		}
		return s.Data["meta"].(map[string]any)["subject"].(string)
	}
	sign("workload-a")
	if err := a.Login(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := subject(); got != "workload-a" {
		t.Fatalf("subject %q", got)
	}
	sign("workload-b")
	if err := a.Login(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := subject(); got != "workload-b" {
		t.Fatalf("the rewritten JWT was not used: subject %q", got)
	}
}

// recorder is a stand-in for Vault that records login requests and answers
// them with a token, for the methods the dev server cannot run here.
type recorder struct {
	mu       sync.Mutex
	requests []recorded
}

type recorded struct {
	Path, Namespace string
	Body            map[string]any
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var body map[string]any
	b, _ := io.ReadAll(req.Body)
	_ = json.Unmarshal(b, &body) // a body that is not JSON is recorded as none
	r.mu.Lock()
	r.requests = append(r.requests, recorded{req.URL.Path, req.Header.Get("X-Vault-Namespace"), body})
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"auth":{"client_token":"hvs.standin","accessor":"a","lease_duration":3600,"renewable":true}}`)
}

func (r *recorder) last(t *testing.T) recorded {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.requests) == 0 {
		t.Fatal("no request reached the stand-in")
	}
	return r.requests[len(r.requests)-1]
}

func standIn(t *testing.T, namespace string) (*recorder, *api.Client) {
	t.Helper()
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	c, err := NewClient(ClientOptions{Address: srv.URL, Namespace: namespace})
	if err != nil {
		t.Fatal(err)
	}
	return rec, c
}

// TestKubernetesLoginRequest: the request keysync sends for method
// kubernetes: the mount's login path, the role, the service-account token
// read from token_path, and the namespace header.
func TestKubernetesLoginRequest(t *testing.T) {
	rec, c := standIn(t, "team-a")
	path := filepath.Join(t.TempDir(), "token")
	writeFile(t, path, "sa-token-1\n", 0)
	a := NewAuth(c, AuthOptions{VaultAuth: config.VaultAuth{Method: config.AuthKubernetes, Role: "keysync", TokenPath: path}}, discard)
	if err := a.Login(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := rec.last(t)
	if got.Path != "/v1/auth/kubernetes/login" || got.Body["role"] != "keysync" || got.Body["jwt"] != "sa-token-1" || got.Namespace != "team-a" {
		t.Fatalf("login request %+v", got)
	}
	if c.Token() != "hvs.standin" {
		t.Fatal("the login's token is not in use")
	}
	writeFile(t, path, "sa-token-2", 0)
	a2 := NewAuth(c, AuthOptions{VaultAuth: config.VaultAuth{Method: config.AuthKubernetes, MountPath: "k8s-east", Role: "keysync", TokenPath: path}}, discard)
	if err := a2.Login(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := rec.last(t); got.Path != "/v1/auth/k8s-east/login" || got.Body["jwt"] != "sa-token-2" {
		t.Fatalf("second login %+v", got)
	}
}

// TestNamespaceOnEveryRequest: the namespace goes with KV requests too.
func TestNamespaceOnEveryRequest(t *testing.T) {
	rec, c := standIn(t, "team-a")
	c.SetToken("x")
	s := &Sink{client: c, mount: "secret", version: 1}
	_, _ = s.Read(context.Background(), "some/path")
	if got := rec.last(t); got.Path != "/v1/secret/some/path" || got.Namespace != "team-a" {
		t.Fatalf("KV request %+v", got)
	}
}

// TestSkipVerifyWarns: tls_skip_verify is loud.
func TestSkipVerifyWarns(t *testing.T) {
	var buf strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return buf.Write(p)
	}), nil))
	if _, err := NewClient(ClientOptions{Address: "https://127.0.0.1:1", TLS: TLSOptions{SkipVerify: true}, Logger: log}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "VAULT TLS VERIFICATION IS OFF") || !strings.Contains(buf.String(), "level=WARN") {
		t.Fatalf("no warning: %q", buf.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

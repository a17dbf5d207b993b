package vault

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/keysync/keysync/config"
	"github.com/keysync/keysync/internal/testenv"
	"github.com/keysync/keysync/secret"
	"github.com/keysync/keysync/sinks"
	"github.com/keysync/keysync/sync/plan"
)

var (
	dev *testenv.Vault
	seq atomic.Int64
)

func TestMain(m *testing.M) {
	code := m.Run()
	if dev != nil {
		dev.Stop()
	}
	os.Exit(code)
}

var (
	vaultOnce sync.Once
	vaultErr  error
)

// needVault starts the Vault dev server for a test of the real tier, once;
// under -short that tier does not run, and the rest needs no Vault binary.
func needVault(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("real tier (Vault dev server): runs without -short, as in CI")
	}
	vaultOnce.Do(func() { dev, vaultErr = testenv.StartVault() })
	if vaultErr != nil {
		t.Fatal(vaultErr)
	}
}

func uniquePath() string { return fmt.Sprintf("sinktest/p%d", seq.Add(1)) }

// client returns a client of the dev server holding token.
func client(t *testing.T, token string) *api.Client {
	t.Helper()
	c, err := NewClient(ClientOptions{Address: dev.Addr, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(token)
	return c
}

func newSink(t *testing.T, mount string, version int) *Sink {
	t.Helper()
	s, err := Open(context.Background(), client(t, testenv.RootToken), Options{Mount: mount, KVVersion: version})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func desired(p, s string) plan.Desired {
	return plan.Desired{Fields: secret.Fields{"primary": secret.New(p), "secondary": secret.New(s)}, ResourceID: "/r", APIVersion: "2024-02-01"}
}

// sync reads, plans and applies once, as the runner does.
func syncOnce(t *testing.T, s *Sink, path string, d plan.Desired) plan.Change {
	t.Helper()
	cur, err := s.Read(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	ch := plan.Calculate(cur, d, time.Now())
	if err := s.Write(context.Background(), path, ch.Write); err != nil {
		t.Fatal(err)
	}
	return ch
}

func TestDetectVersion(t *testing.T) {
	needVault(t)
	if v := newSink(t, "secret", 0).knownVersion(); v != 2 {
		t.Errorf("secret/ detected as KV v%d", v)
	}
	if v := newSink(t, testenv.V1Mount, 0).knownVersion(); v != 1 {
		t.Errorf("%s/ detected as KV v%d", testenv.V1Mount, v)
	}
}

// TestDeletedLatestVersion: a soft-deleted latest version reads as absent
// at its version. Whose it was cannot be read, so keysync refuses it; an
// account that adopts creates over it, checking and setting against that
// version.
func TestDeletedLatestVersion(t *testing.T) {
	needVault(t)
	s := newSink(t, "secret", 2)
	path := uniquePath()
	kv := dev.Client.KVv2("secret")
	ctx := context.Background()
	for _, x := range []string{"1", "2"} {
		if _, err := kv.Put(ctx, path, map[string]any{"x": x}); err != nil {
			t.Fatal(err)
		}
	}
	if err := kv.Delete(ctx, path); err != nil {
		t.Fatal(err)
	}
	cur, err := s.Read(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if cur.Exists || cur.Version != 2 {
		t.Fatalf("read %+v, want absent at version 2", cur)
	}
	if ch := syncOnce(t, s, path, desired("p1", "s1")); ch.Action != plan.Refused {
		t.Fatalf("action %v, want refused", ch.Action)
	}
	d := desired("p1", "s1")
	d.Adopt = true
	if ch := syncOnce(t, s, path, d); ch.Action != plan.Create {
		t.Fatalf("adopted: action %v", ch.Action)
	}
	got, err := kv.Get(ctx, path)
	if err != nil || got.VersionMetadata.Version != 3 || got.Data["primary"] != "p1" {
		t.Fatalf("after create: %v %+v", err, got)
	}
}

// TestCASConflict: a write planned from a stale read fails with
// sinks.ErrConflict and leaves the other writer's version in place.
func TestCASConflict(t *testing.T) {
	needVault(t)
	s := newSink(t, "secret", 2)
	path := uniquePath()
	ctx := context.Background()
	syncOnce(t, s, path, desired("p1", "s1"))
	cur, err := s.Read(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	ch := plan.Calculate(cur, desired("p2", "s1"), time.Now())
	if _, err := dev.Client.KVv2("secret").Patch(ctx, path, map[string]any{"owner": "someone"}); err != nil {
		t.Fatal(err)
	}
	err = s.Write(ctx, path, ch.Write)
	if !errors.Is(err, sinks.ErrConflict) {
		t.Fatalf("Write = %v, want ErrConflict", err)
	}
	got, _ := dev.Client.KVv2("secret").Get(ctx, path)
	if got.VersionMetadata.Version != 2 || got.Data["owner"] != "someone" || got.Data["primary"] != "p1" {
		t.Fatalf("the other writer's version was overwritten: %+v", got.Data)
	}
	// Re-read and re-plan: the foreign field survives.
	syncOnce(t, s, path, desired("p2", "s1"))
	got, _ = dev.Client.KVv2("secret").Get(ctx, path)
	if got.VersionMetadata.Version != 3 || got.Data["owner"] != "someone" || got.Data["primary"] != "p2" {
		t.Fatalf("after re-plan: version %d data %v", got.VersionMetadata.Version, got.Data["owner"])
	}
}

// TestForeignMetadataKept: custom_metadata keys keysync does not own
// survive its metadata writes.
func TestForeignMetadataKept(t *testing.T) {
	needVault(t)
	s := newSink(t, "secret", 2)
	path := uniquePath()
	ctx := context.Background()
	syncOnce(t, s, path, desired("p1", "s1"))
	err := dev.Client.KVv2("secret").PatchMetadata(ctx, path, api.KVMetadataPatchInput{CustomMetadata: map[string]any{"team": "payments"}})
	if err != nil {
		t.Fatal(err)
	}
	syncOnce(t, s, path, desired("p2", "s1"))
	md, err := dev.Client.KVv2("secret").GetMetadata(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if md.CustomMetadata["team"] != "payments" || md.CustomMetadata["managed-by"] != "keysync" {
		t.Fatalf("custom_metadata = %v", md.CustomMetadata)
	}
}

// TestErrorsAreClassified: a policy denial is permanent, an unreachable
// Vault transient.
func TestErrorsAreClassified(t *testing.T) {
	needVault(t)
	ctx := context.Background()
	if err := dev.Client.Sys().PutPolicy("read-only", `path "secret/data/*" { capabilities = ["read"] }
path "secret/metadata/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	tok, err := dev.Client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"read-only"}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, client(t, tok.Auth.ClientToken), Options{Mount: "secret", KVVersion: 2})
	if err != nil {
		t.Fatal(err)
	}
	path := uniquePath()
	cur, err := s.Read(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Write(ctx, path, plan.Calculate(cur, desired("p", "s"), time.Now()).Write)
	var se *sinks.Error
	if !errors.As(err, &se) || se.StatusCode != http.StatusForbidden || se.Transient {
		t.Fatalf("denied write: %#v", err)
	}
	if !strings.HasSuffix(err.Error(), "HTTP 403: permission denied") {
		t.Errorf("message %q is not one clean line", err)
	}

	addr, _ := testenv.FreeAddr()
	c, err := NewClient(ClientOptions{Address: "http://" + addr, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if s, err = Open(ctx, c, Options{Mount: "secret"}); err != nil {
		t.Fatalf("an unreachable Vault must not fail New: %v", err)
	}
	_, err = s.Read(ctx, path)
	if !errors.As(err, &se) || !se.Transient {
		t.Fatalf("unreachable vault: %#v", err)
	}
}

// TestTokenFile: the token comes from token_file, and a rewritten file is
// picked up; an empty file is an error.
func TestTokenFile(t *testing.T) {
	needVault(t)
	t.Setenv("VAULT_TOKEN", "")
	f := t.TempDir() + "/token"
	writeFile(t, f, testenv.RootToken+"\n", 0)
	c := client(t, "")
	a := NewAuth(c, AuthOptions{VaultAuth: config.VaultAuth{Method: config.AuthToken, TokenFile: f}}, slog.New(slog.DiscardHandler))
	if err := a.Login(context.Background()); err != nil || c.Token() != testenv.RootToken {
		t.Fatalf("token not read from file: %v", err)
	}
	tok, err := dev.Client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"default"}})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, f, tok.Auth.ClientToken, time.Second)
	if err := a.Login(context.Background()); err != nil || c.Token() != tok.Auth.ClientToken || a.Generation() != 2 {
		t.Fatalf("rewritten token_file not used: %v, generation %d", err, a.Generation())
	}
	writeFile(t, f, "", 2*time.Second)
	if err := a.Login(context.Background()); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("empty token file: %v", err)
	}
}

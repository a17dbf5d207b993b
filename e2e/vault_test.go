package e2e

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/keysync/keysync/internal/testenv"
)

// ownVaults are the Vault servers of the tests that have one of their own
// (ownVault), by test.
var ownVaults sync.Map

// ownVault starts a Vault dev server for t alone, stopped when t ends: a
// test that seals Vault for a while, and runs long, shares the rest of
// the world with the others instead of holding all of it. t's keysync
// runs and daemons, and the helpers that read Vault for t, use it; t's
// subtests do not.
func ownVault(t *testing.T) *testenv.Vault {
	t.Helper()
	v, err := testenv.StartVault()
	if err != nil {
		t.Fatal(err)
	}
	ownVaults.Store(t, v)
	t.Cleanup(func() {
		ownVaults.Delete(t)
		v.Stop()
	})
	return v
}

// vaultOf is the Vault t syncs to: its own, or the one of every test.
func vaultOf(t *testing.T) *testenv.Vault {
	if v, ok := ownVaults.Load(t); ok {
		return v.(*testenv.Vault)
	}
	return vault
}

// kvSecret is a KV v2 secret as the root token reads it.
type kvSecret struct {
	data    map[string]any
	version int
	meta    map[string]any
}

// readV2 returns the latest version of secret/path, or nil if there is none.
func readV2(t *testing.T, path string) *kvSecret {
	t.Helper()
	s, err := vaultOf(t).Client.KVv2("secret").Get(context.Background(), path)
	if errors.Is(err, api.ErrSecretNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("reading secret/%s: %v", path, err)
	}
	return &kvSecret{data: s.Data, version: s.VersionMetadata.Version, meta: s.CustomMetadata}
}

// fieldOf is one field of the secret at path, nil when there is none (a
// test waiting for a write must not trip on the secret not being there yet).
func fieldOf(t *testing.T, path, name string) any {
	t.Helper()
	if s := readV2(t, path); s != nil {
		return s.data[name]
	}
	return nil
}

func writeV2(t *testing.T, path string, data map[string]any) {
	t.Helper()
	if _, err := vaultOf(t).Client.KVv2("secret").Put(context.Background(), path, data); err != nil {
		t.Fatalf("writing secret/%s: %v", path, err)
	}
}

func versionOf(t *testing.T, path string) int {
	t.Helper()
	if s := readV2(t, path); s != nil {
		return s.version
	}
	return 0
}

// vaultTap stands between keysync and the test's Vault: each request goes
// first to hook, and on to Vault unless hook answered it (returned true).
// It returns the address to give keysync as VAULT_ADDR; it closes when the
// test ends.
func vaultTap(t *testing.T, hook func(w http.ResponseWriter, r *http.Request) bool) string {
	t.Helper()
	target, err := url.Parse(vault.Addr)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hook(w, r) {
			rp.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// changesVault reports whether a request could change what Vault holds:
// any but a read or a list.
func changesVault(r *http.Request) bool {
	return r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != "LIST"
}

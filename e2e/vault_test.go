package e2e

import (
	"context"
	"errors"
	"testing"

	"github.com/hashicorp/vault/api"
)

// kvSecret is a KV v2 secret as the root token reads it.
type kvSecret struct {
	data    map[string]any
	version int
	meta    map[string]any
}

// readV2 returns the latest version of secret/path, or nil if there is none.
func readV2(t *testing.T, path string) *kvSecret {
	t.Helper()
	s, err := vault.Client.KVv2("secret").Get(context.Background(), path)
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
	if _, err := vault.Client.KVv2("secret").Put(context.Background(), path, data); err != nil {
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

package vault

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keysync/keysync/internal/testenv"
	"github.com/keysync/keysync/sync/plan"
)

// countingSink is a sink whose every request to Vault is recorded as
// "op code" (see opOf), in order.
func countingSink(t *testing.T) (*Sink, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var seen []string
	c, err := NewClient(ClientOptions{Address: dev.Addr, Timeout: 30 * time.Second, Observe: func(op, code string) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, op+" "+code)
	}})
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(testenv.RootToken)
	s, err := Open(context.Background(), c, Options{Mount: "secret", KVVersion: 2})
	if err != nil {
		t.Fatal(err)
	}
	return s, func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := slices.Clone(seen)
		seen = nil
		return out
	}
}

// TestCreateCostsOneReadTwoWrites: creating a secret costs one data read
// (its 404 says no version exists), the check-and-set data write with
// keysync's data mark, then the metadata PATCH that records keysync's
// ownership beside whatever was there; an unchanged secret costs the one
// data read, which carries the custom_metadata.
func TestCreateCostsOneReadTwoWrites(t *testing.T) {
	needVault(t)
	s, requests := countingSink(t)
	path := uniquePath()
	requests() // the mount check
	if ch := syncOnce(t, s, path, desired("p1", "s1")); ch.Action != plan.Create {
		t.Fatalf("action %v, want create", ch.Action)
	}
	if got, want := requests(), []string{"read 404", "write 200", "write-metadata 204"}; !slices.Equal(got, want) {
		t.Fatalf("a create made %q, want %q", got, want)
	}
	if ch := syncOnce(t, s, path, desired("p1", "s1")); ch.Action != plan.Unchanged {
		t.Fatalf("action %v, want unchanged", ch.Action)
	}
	if got, want := requests(), []string{"read 200"}; !slices.Equal(got, want) {
		t.Fatalf("an unchanged sync made %q, want %q", got, want)
	}
	md, err := dev.Client.KVv2("secret").GetMetadata(context.Background(), path)
	if err != nil || md.CustomMetadata["managed-by"] != "keysync" || md.CurrentVersion != 1 {
		t.Fatalf("after create: %v %+v", err, md)
	}
}

// TestCreateOverMetadataAlone: a metadata entry with no version (written
// by a writer of the metadata alone, or by an operator before any data)
// reads as absent at version 0; the create lands as version 1 with the
// data mark and sets keysync's keys in that entry's custom_metadata,
// keeping every other key. A forged keysync key stays too, as one
// written after the create would: metadata alone proves nothing to
// keysync (see docs/vault.md "Whose a secret is").
func TestCreateOverMetadataAlone(t *testing.T) {
	needVault(t)
	s, requests := countingSink(t)
	path := uniquePath()
	forged := map[string]any{"managed-by": "keysync", plan.MetaRotationPending: "forged", "team": "payments"}
	if _, err := dev.Client.Logical().Write("secret/metadata/"+path, map[string]any{"custom_metadata": forged}); err != nil {
		t.Fatal(err)
	}
	requests()
	cur, err := s.Read(context.Background(), path)
	if err != nil || cur.Exists || cur.Version != 0 || cur.Metadata != nil {
		t.Fatalf("read %+v, %v; want absent at version 0", cur, err)
	}
	requests()
	if err := s.Write(context.Background(), path, plan.Calculate(cur, desired("p1", "s1"), time.Now()).Write); err != nil {
		t.Fatal(err)
	}
	got, err := dev.Client.KVv2("secret").Get(context.Background(), path)
	if err != nil || got.VersionMetadata.Version != 1 || !strings.EqualFold(got.Data[plan.FieldOwner].(string), "/r") {
		t.Fatalf("after create: %v %+v", err, got)
	}
	if m := got.CustomMetadata; m["managed-by"] != "keysync" || m[plan.MetaRotationPending] != "forged" || m["team"] != "payments" {
		t.Fatalf("custom_metadata after create: %v", m)
	}
	if r := requests(); len(r) != 2 {
		t.Fatalf("the create made %q, want a data write and a metadata write", r)
	}
}

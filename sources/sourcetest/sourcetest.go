// Package sourcetest is the contract every sources.Rotator keeps, as a test
// suite: the Azure source runs it against the ARM emulator over TLS, and
// the in-memory source runs it too, so the fast tier's fake is held to what
// the real source does.
package sourcetest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/keysync/keysync/fault"
	"github.com/keysync/keysync/sources"
)

// Harness is a source under test and the store behind it.
type Harness struct {
	Source sources.Rotator
	// Add creates a Batch account (keys "primary" and "secondary").
	Add func(t *testing.T, name string) sources.Account
	// Keys reads an account's keys from the store, not through Source.
	Keys func(t *testing.T, a sources.Account) map[string]string
}

var seq atomic.Int64

// Run runs the contract against h.
func Run(t *testing.T, h Harness) {
	ctx := context.Background()
	name := func() string { return fmt.Sprintf("contract%d", seq.Add(1)) }
	t.Run("fetch", func(t *testing.T) {
		a := h.Add(t, name())
		got, err := h.Source.Fetch(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		want := h.Keys(t, a)
		if len(got) != len(want) {
			t.Fatalf("fetched %v, want %d fields", got.Names(), len(want))
		}
		for k, v := range want {
			if got[k].Reveal() != v {
				t.Fatalf("field %s is not the store's key", k)
			}
		}
	})
	t.Run("regenerate one key", func(t *testing.T) {
		a := h.Add(t, name())
		before := h.Keys(t, a)
		got, err := h.Source.Regenerate(ctx, a, "secondary")
		if err != nil {
			t.Fatal(err)
		}
		after := h.Keys(t, a)
		if after["primary"] != before["primary"] || after["secondary"] == before["secondary"] {
			t.Fatal("regenerate changed the wrong key")
		}
		if got["secondary"].Reveal() != after["secondary"] {
			t.Fatal("regenerate did not answer the new keys")
		}
	})
	t.Run("unknown account is permanent", func(t *testing.T) {
		a := h.Add(t, name())
		a.Name += "x"
		_, err := h.Source.Fetch(ctx, a)
		var se *sources.Error
		if !errors.As(err, &se) || se.StatusCode != http.StatusNotFound || fault.Transient(err) || fault.Code(err) != "ResourceNotFound" {
			t.Fatalf("unknown account: %v", err)
		}
	})
}

// Package sinktest is the contract every sinks.Sink keeps, as a test suite:
// the Vault sink runs it against a real Vault server, and the in-memory
// sink runs it too, so the fast tier's fake is held to what the real sink
// does.
package sinktest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/keysync/keysync/secret"
	"github.com/keysync/keysync/sinks"
)

// Harness is a sink under test and a second writer beside it.
type Harness struct {
	Sink sinks.Sink
	// Put writes data as another writer would, without check-and-set.
	Put func(t *testing.T, path string, data map[string]any)
	// Prefix keeps this run's paths apart from others'.
	Prefix string
}

var seq atomic.Int64

func (h Harness) path() string { return fmt.Sprintf("%s/contract%d", h.Prefix, seq.Add(1)) }

// Run runs the contract against h.
func Run(t *testing.T, h Harness) {
	ctx := context.Background()
	t.Run("absent", func(t *testing.T) {
		st, err := h.Sink.Read(ctx, h.path())
		if err != nil || st.Exists || st.Version != 0 || !st.Versioned {
			t.Fatalf("absent secret read as %+v, %v", st, err)
		}
	})
	t.Run("create then read", func(t *testing.T) {
		p := h.path()
		w := sinks.Write{Create: true, Data: data("k", "v1"), Metadata: map[string]string{"managed-by": "test"}}
		mustWrite(t, h, p, w)
		st := mustRead(t, h, p)
		if !st.Exists || st.Version != 1 || field(st, "k") != "v1" || st.Metadata["managed-by"] != "test" {
			t.Fatalf("after create: exists %t version %d metadata %v", st.Exists, st.Version, st.Metadata)
		}
	})
	t.Run("check-and-set conflict", func(t *testing.T) {
		p := h.path()
		mustWrite(t, h, p, sinks.Write{Create: true, Data: data("k", "v1")})
		h.Put(t, p, map[string]any{"k": "v1", "other": "x"})
		err := h.Sink.Write(ctx, p, sinks.Write{BaseVersion: 1, Data: data("k", "v2")})
		if !errors.Is(err, sinks.ErrConflict) {
			t.Fatalf("write against a stale version: %v, want ErrConflict", err)
		}
		if st := mustRead(t, h, p); st.Version != 2 || field(st, "other") != "x" || field(st, "k") != "v1" {
			t.Fatalf("the other writer's version was overwritten: version %d", st.Version)
		}
	})
	runWrites(t, h)
	runList(t, h)
}

// runList checks a sink that lists: every secret under the prefix, at any
// depth, nothing outside it, and an error rather than a short list.
func runList(t *testing.T, h Harness) {
	l, ok := h.Sink.(sinks.Lister)
	if !ok {
		return
	}
	t.Run("list", func(t *testing.T) {
		base := h.path()
		for _, p := range []string{base + "/a", base + "/b/c", base + "/b/d/e", base + "x/f"} {
			mustWrite(t, h, p, sinks.Write{Create: true, Data: data("k", "v")})
		}
		got, err := l.List(context.Background(), base+"/", 10)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		if want := []string{base + "/a", base + "/b/c", base + "/b/d/e"}; !slices.Equal(got, want) {
			t.Fatalf("List = %v, want %v", got, want)
		}
		if _, err := l.List(context.Background(), base+"/", 2); !errors.Is(err, sinks.ErrTooMany) {
			t.Fatalf("List over its bound: %v", err)
		}
	})
}

// runWrites is the second half of the contract: what a write replaces.
func runWrites(t *testing.T, h Harness) {
	ctx := context.Background()
	t.Run("whole data is written", func(t *testing.T) {
		p := h.path()
		mustWrite(t, h, p, sinks.Write{Create: true, Data: data("k", "v1", "owner", "team")})
		first := mustRead(t, h, p).Created
		mustWrite(t, h, p, sinks.Write{BaseVersion: 1, Data: data("k", "v2")})
		st := mustRead(t, h, p)
		if field(st, "k") != "v2" || len(st.Data.Names()) != 1 || st.Version != 2 {
			t.Fatalf("a sink merged fields: %v version %d", st.Data, st.Version)
		}
		if first.IsZero() || st.Created.Before(first) {
			t.Fatalf("versions created at %v, then %v", first, st.Created)
		}
	})
	// Rotation rests on this: a writer of the metadata alone cannot move
	// the live version's time.
	t.Run("metadata only", func(t *testing.T) {
		p := h.path()
		mustWrite(t, h, p, sinks.Write{Create: true, Data: data("k", "v1"), Metadata: map[string]string{"a": "1"}})
		created := mustRead(t, h, p).Created
		mustWrite(t, h, p, sinks.Write{BaseVersion: 1, Metadata: map[string]string{"a": "2", "b": "3"}})
		st := mustRead(t, h, p)
		if st.Version != 1 || st.Metadata["a"] != "2" || st.Metadata["b"] != "3" {
			t.Fatalf("metadata write: version %d metadata %v", st.Version, st.Metadata)
		}
		if created.IsZero() || !st.Created.Equal(created) {
			t.Fatalf("a metadata write moved the version's time from %v to %v", created, st.Created)
		}
	})
	t.Run("delete", func(t *testing.T) {
		p := h.path()
		mustWrite(t, h, p, sinks.Write{Create: true, Data: data("k", "v1"), Metadata: map[string]string{"a": "1"}})
		mustWrite(t, h, p, sinks.Write{BaseVersion: 1, Data: data("k", "v2")})
		mustWrite(t, h, p, sinks.Write{Delete: true, BaseVersion: 2})
		if st := mustRead(t, h, p); st.Exists || st.Version != 0 || st.Metadata != nil {
			t.Fatalf("after delete: exists %t version %d metadata %v", st.Exists, st.Version, st.Metadata)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := h.Sink.Read(cctx, h.path())
		var se *sinks.Error
		if !errors.As(err, &se) {
			t.Fatalf("read with a cancelled context: %v, want a *sinks.Error", err)
		}
	})
}

func data(kv ...string) secret.Data {
	m := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return secret.NewData(m)
}

func field(st sinks.State, name string) string {
	v, _ := st.Data.Field(name)
	return v.Reveal()
}

func mustWrite(t *testing.T, h Harness, path string, w sinks.Write) {
	t.Helper()
	if err := h.Sink.Write(context.Background(), path, w); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
}

func mustRead(t *testing.T, h Harness, path string) sinks.State {
	t.Helper()
	st, err := h.Sink.Read(context.Background(), path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return st
}

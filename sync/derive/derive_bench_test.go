package derive

import (
	"testing"
	"time"

	"github.com/keysync/keysync/sync/derive/spec"
)

// BenchmarkDerive is the cost per account and cycle: checking a held 24h
// SAS that is kept (an unchanged cycle), and making a new one.
func BenchmarkDerive(b *testing.B) {
	sp := spec.Spec{Name: "sas", Kind: spec.StorageAccountSAS, Permissions: "rl", ResourceTypes: "sco", Expiry: 24 * time.Hour}
	in := storageInput("key1")
	first, err := Derive(sp, in, nil, t0)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("kept", func(b *testing.B) {
		for b.Loop() {
			held := first.Value
			if r, _ := Derive(sp, in, &held, t0.Add(time.Hour)); r.Fresh {
				b.Fatal("renewed")
			}
		}
	})
	b.Run("kept, memo", func(b *testing.B) {
		m := NewMemo()
		held := first.Value
		if _, err := m.Derive(sp, in, &held, t0.Add(time.Hour)); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			held := first.Value
			if r, _ := m.Derive(sp, in, &held, t0.Add(time.Hour)); r.Fresh {
				b.Fatal("renewed")
			}
		}
	})
	b.Run("made", func(b *testing.B) {
		for b.Loop() {
			if _, err := Derive(sp, in, nil, t0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("connection-string", func(b *testing.B) {
		cs := spec.Spec{Name: "cs", Kind: spec.StorageConnectionString}
		held := func() Result { r, _ := Derive(cs, in, nil, t0); return r }().Value
		for b.Loop() {
			h := held
			if r, _ := Derive(cs, in, &h, t0); r.Fresh {
				b.Fatal("made anew")
			}
		}
	})
}

package derive

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/keysync/keysync/secret"
	"github.com/keysync/keysync/sync/derive/spec"
)

// countSigning counts the account SAS maker's calls until the test ends.
func countSigning(t *testing.T) *int {
	t.Helper()
	n := new(int)
	k := makers[spec.StorageAccountSAS]
	orig := k.make
	k.make = func(s spec.Spec, in Input, start, expiry time.Time) (string, error) {
		*n++
		return orig(s, in, start, expiry)
	}
	makers[spec.StorageAccountSAS] = k
	t.Cleanup(func() { k.make = orig; makers[spec.StorageAccountSAS] = k })
	return n
}

// memoCase is a case of TestMemoKeepsOnlyWhatItProved.
type memoCase struct {
	name     string
	held     func(made secret.Value) secret.Value
	active   string
	at       time.Duration
	kept     bool
	signings int
}

// TestMemoKeepsOnlyWhatItProved: the value a Memo made or verified last
// time is kept without signing again; a value keysync did not make with
// the active key (a stranger's signature with the same fields, a value of
// the other key after a rotation) is checked in full and replaced, and a
// due renewal still renews. Each case runs twice: with the account's part
// of the digest taken per value, and taken once (Prepared, as the runner
// asks for an account's values).
func TestMemoKeepsOnlyWhatItProved(t *testing.T) {
	sp := spec.Spec{Name: "sas", Kind: spec.StorageAccountSAS, Permissions: "rl", ResourceTypes: "sco", Expiry: 24 * time.Hour}
	stranger := storageInput("key1")
	stranger.Keys = secret.Fields{"key1": secret.New(key2), "key2": secret.New(key2)}
	forged, err := Derive(sp, stranger, nil, t0)
	if err != nil {
		t.Fatal(err)
	}
	tests := []memoCase{
		{"the value made last", func(v secret.Value) secret.Value { return v }, "key1", time.Hour, true, 0},
		{"a stranger's signature", func(secret.Value) secret.Value { return forged.Value }, "key1", time.Hour, false, 2},
		{"after active moved", func(v secret.Value) secret.Value { return v }, "key2", time.Hour, false, 2},
		{"renewal due", func(v secret.Value) secret.Value { return v }, "key1", 23 * time.Hour, false, 2},
		{"key1 regenerated, active still key1", func(v secret.Value) secret.Value { return v }, "key1", time.Hour, false, 2},
	}
	for _, tt := range tests {
		for _, prepared := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, prepared %t", tt.name, prepared), func(t *testing.T) {
				prep := func(in Input) Input {
					if prepared {
						return in.Prepared()
					}
					return in
				}
				m := NewMemo()
				first, err := m.Derive(sp, prep(storageInput("key1")), nil, t0)
				if err != nil {
					t.Fatal(err)
				}
				n := countSigning(t)
				held := tt.held(first.Value)
				in := storageInput(tt.active)
				if strings.HasPrefix(tt.name, "key1 regenerated") {
					in.Keys = secret.Fields{"key1": secret.New(key2), "key2": secret.New(key2)}
				}
				r, err := m.Derive(sp, prep(in), &held, t0.Add(tt.at))
				if err != nil {
					t.Fatal(err)
				}
				if r.Fresh == tt.kept || *n != tt.signings || tt.kept && !r.Expires.Equal(first.Expires) {
					t.Fatalf("fresh %t after %d signings, expires %s; want kept %t after %d", r.Fresh, *n, r.Expires, tt.kept, tt.signings)
				}
				if !tt.kept && r.Value.Reveal() == held.Reveal() {
					t.Fatal("the held value was kept")
				}
			})
		}
	}
}

// TestMemoEntrySize pins a remembered value's size: at 100,000 accounts
// with two values each, 32 bytes each before the map's own overhead.
func TestMemoEntrySize(t *testing.T) {
	if got := unsafe.Sizeof(uint64(0)) + unsafe.Sizeof(memoEntry{}); got != 32 {
		t.Fatalf("a remembered value takes %d bytes, want 32", got)
	}
}

// TestMemoSameNameTwoPaths: one name at two paths of an account is two
// remembered values: each is kept without signing. They used to share a
// slot and evict each other, so that neither was ever kept.
func TestMemoSameNameTwoPaths(t *testing.T) {
	m, in := NewMemo(), storageInput("key1")
	var made []Result
	for _, p := range []string{"apps/a", "apps/b"} {
		r, err := m.Derive(spec.Spec{Name: "sas", Kind: spec.StorageAccountSAS, Permissions: "rl", ResourceTypes: "sco", Expiry: 24 * time.Hour, Path: p}, in, nil, t0)
		if err != nil {
			t.Fatal(err)
		}
		made = append(made, r)
	}
	n := countSigning(t)
	for i, p := range []string{"apps/a", "apps/b"} {
		held := made[i].Value
		r, err := m.Derive(spec.Spec{Name: "sas", Kind: spec.StorageAccountSAS, Permissions: "rl", ResourceTypes: "sco", Expiry: 24 * time.Hour, Path: p}, in, &held, t0.Add(time.Hour))
		if err != nil || r.Fresh {
			t.Fatalf("%s: fresh %t, %v; want kept", p, r.Fresh, err)
		}
	}
	if *n != 0 {
		t.Fatalf("%d signings, want none", *n)
	}
}

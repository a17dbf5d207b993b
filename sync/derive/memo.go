package derive

import (
	"crypto/sha256"
	"encoding/binary"
	"hash/maphash"
	"maps"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/keysync/keysync/secret"
	"github.com/keysync/keysync/sync/derive/spec"
)

// Memo spares an unchanged cycle the re-signing of every held value. It
// remembers, per account and value, a digest of everything the value was
// proven from last time (the keys, the settings, the properties, the
// value itself, as Vault returned it or as keysync made it) and its
// expiry: a held value whose digest is the one remembered is the value
// verified or made then, byte for byte, from the same key, so it is kept
// without signing again. Anything else, a value someone else wrote
// included, is checked in full by Derive. The digest rests on the value
// Vault returned, never on metadata. A Memo's zero value is not usable;
// nil is (it remembers nothing).
type Memo struct {
	mu   sync.Mutex
	seed maphash.Seed
	m    map[uint64]memoEntry
}

// memoEntry is one value's digest and expiry (Unix seconds, 0 for none):
// 32 bytes with its key, before the map's own overhead.
type memoEntry struct {
	sum [16]byte
	exp int64
}

// MaxMemo bounds the values a Memo remembers; when full it starts over.
const MaxMemo = 1 << 20

// NewMemo returns an empty Memo.
func NewMemo() *Memo { return &Memo{seed: maphash.MakeSeed(), m: map[uint64]memoEntry{}} }

// Derive is the package's Derive, which it calls unless held is the value
// m proved last time for the same account, value, key and settings and
// its renewal is not due.
func (m *Memo) Derive(s spec.Spec, in Input, held *secret.Value, now time.Time) (Result, error) {
	if m == nil {
		return Derive(s, in, held, now)
	}
	// The path too: one name may be used at two paths of an account.
	slot := maphash.String(m.seed, in.AccountID+"\x00"+s.Path+"\x00"+s.Name)
	if held != nil {
		m.mu.Lock()
		e, ok := m.m[slot]
		m.mu.Unlock()
		if ok && e.sum == digest(s, in, held.Reveal()) {
			var exp time.Time
			if e.exp != 0 {
				exp = time.Unix(e.exp, 0).UTC()
			}
			if exp.IsZero() || now.Before(spec.RenewAt(s, in.AccountID, exp)) {
				return Result{Value: *held, Expires: exp}, nil
			}
		}
	}
	r, err := Derive(s, in, held, now)
	if err != nil {
		return r, err
	}
	e := memoEntry{sum: digest(s, in, r.Value.Reveal())}
	if !r.Expires.IsZero() {
		e.exp = r.Expires.Unix()
	}
	m.mu.Lock()
	if len(m.m) >= MaxMemo {
		clear(m.m)
	}
	m.m[slot] = e
	m.mu.Unlock()
	return r, nil
}

// Prepared is in with the digest of everything its values are made from
// taken once, for a caller that asks a Memo for several values of one
// account (a SAS and a connection string): each value's digest then
// hashes that digest, its settings and itself, not the keys and the
// properties again. in must not change after.
func (in Input) Prepared() Input {
	sum := inputSum(in)
	in.sum = &sum
	return in
}

// digest is a SHA-256 (truncated to 16 bytes: a second preimage costs
// 2^128) of value, its settings, and the SHA-256 of everything of the
// account Derive makes it from (inputSum), each part length-prefixed
// (":<length>:<part>").
func digest(s spec.Spec, in Input, value string) [16]byte {
	sum := in.sum
	if sum == nil {
		v := inputSum(in)
		sum = &v
	}
	b := make([]byte, 0, 512)
	b = append(b, sum[:]...)
	b = put(b, value, s.Name, s.Kind, s.Path, s.Permissions, s.ResourceTypes, s.Container, s.Blob, s.Entity, s.IPRange, s.Template)
	b = strconv.AppendInt(append(b, ':'), int64(s.Expiry), 10)
	b = binary.BigEndian.AppendUint64(b, math.Float64bits(s.RenewBefore))
	b = strconv.AppendBool(b, s.HTTP)
	full := sha256.Sum256(b)
	return [16]byte(full[:16])
}

// inputSum is the SHA-256 of what Derive takes of the account: its names,
// the active key's field, the cloud's suffix, the keys, the answered
// connection strings and the properties.
func inputSum(in Input) [32]byte {
	b := make([]byte, 0, 1024)
	b = put(b, in.AccountID, in.Name, in.Rule, in.ResourceGroup, in.Subscription, in.Type, in.Active, in.Suffix)
	b = putFields(b, in.Keys)
	b = putFields(b, in.Answered)
	b = strconv.AppendInt(append(b, ':'), int64(len(in.Props)), 10)
	for _, k := range slices.Sorted(maps.Keys(in.Props)) {
		b = put(b, k, in.Props[k])
	}
	return sha256.Sum256(b)
}

// put appends each part to b after its length.
func put(b []byte, parts ...string) []byte {
	for _, p := range parts {
		b = strconv.AppendInt(append(b, ':'), int64(len(p)), 10)
		b = append(append(b, ':'), p...)
	}
	return b
}

// putFields appends f's count, then its names and values in order.
func putFields(b []byte, f secret.Fields) []byte {
	b = strconv.AppendInt(append(b, ':'), int64(len(f)), 10)
	for _, k := range f.Names() {
		b = put(b, k, f[k].Reveal())
	}
	return b
}

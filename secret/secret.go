// Package secret holds the types that carry key material through keysync.
//
// Every type here redacts itself wherever Go might print it: fmt verbs
// (%v, %+v, %#v, %s, %q, %x), log/slog and encoding/json. The real value is
// only reachable through Reveal, so a key can't reach a log line, an error or
// the dry-run output by accident; it takes a call that reads as a decision.
package secret

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
)

// Redacted is what every secret-bearing type prints instead of its content.
const Redacted = "[redacted]"

// Value is one piece of key material.
type Value struct {
	v string
}

// New wraps s as a secret Value.
func New(s string) Value { return Value{v: s} }

// Reveal returns the key itself. Call it only to hand the key to Vault.
func (v Value) Reveal() string { return v.v }

// IsZero reports whether the value is empty.
func (v Value) IsZero() bool { return v.v == "" }

// Equal compares two values without revealing either.
func (v Value) Equal(o Value) bool { return v.v == o.v }

// Fingerprint is a short, stable sha256 prefix of the value, "sha256:" and
// twelve hex digits. It identifies a key in plans and metadata without
// revealing it: 48 bits of a hash of a 512-bit random key say nothing useful.
func (v Value) Fingerprint() string {
	if v.v == "" {
		return "empty"
	}
	sum := sha256.Sum256([]byte(v.v))
	return "sha256:" + hex.EncodeToString(sum[:6])
}

// String implements fmt.Stringer.
func (v Value) String() string { return Redacted }

// GoString implements fmt.GoStringer, so %#v redacts too.
func (v Value) GoString() string { return Redacted }

// Format implements fmt.Formatter: every verb prints Redacted.
func (v Value) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(Redacted)) }

// LogValue implements slog.LogValuer.
func (v Value) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalJSON implements json.Marshaler.
func (v Value) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// UnmarshalText implements encoding.TextUnmarshaler, so a config decoder
// can fill a Value directly and the raw string never sits in a plain field.
func (v *Value) UnmarshalText(b []byte) error {
	v.v = string(b)
	return nil
}

// MarshalText implements encoding.TextMarshaler (used by some encoders for
// map keys and by text loggers).
func (v Value) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

package secret

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
)

// Data is the whole content of a secret as a sink holds it: the fields keysync
// manages and any others that belong to someone else. keysync never reads the
// foreign fields; it carries them through a write so that none is lost.
type Data struct {
	m map[string]any
}

// NewData wraps a secret's raw content. It takes ownership of m.
func NewData(m map[string]any) Data { return Data{m: m} }

// Field returns a field as a Value when it holds a string.
func (d Data) Field(name string) (Value, bool) {
	s, ok := d.m[name].(string)
	return Value{v: s}, ok
}

// Has reports whether d holds a field of that name, whatever its type.
func (d Data) Has(name string) bool {
	_, ok := d.m[name]
	return ok
}

// With returns a copy of d with fields set; d itself is left as it was.
func (d Data) With(fields Fields) Data {
	out := make(map[string]any, len(d.m)+len(fields))
	maps.Copy(out, d.m)
	for name, v := range fields {
		out[name] = v.v
	}
	return Data{m: out}
}

// Without returns a copy of d without the named fields; d itself is left
// as it was.
func (d Data) Without(names ...string) Data {
	out := maps.Clone(d.m)
	for _, n := range names {
		delete(out, n)
	}
	return Data{m: out}
}

// Reveal returns the raw content for a sink to write. The map is a copy.
func (d Data) Reveal() map[string]any { return maps.Clone(d.m) }

// Names returns the field names in sorted order.
func (d Data) Names() []string { return slices.Sorted(maps.Keys(d.m)) }

// String implements fmt.Stringer: field names only.
func (d Data) String() string { return fmt.Sprintf("secret.Data%v", d.Names()) }

// GoString implements fmt.GoStringer.
func (d Data) GoString() string { return d.String() }

// Format implements fmt.Formatter.
func (d Data) Format(s fmt.State, _ rune) { _, _ = s.Write([]byte(d.String())) }

// LogValue implements slog.LogValuer.
func (d Data) LogValue() slog.Value { return slog.StringValue(d.String()) }

// MarshalJSON implements json.Marshaler: field names only.
func (d Data) MarshalJSON() ([]byte, error) { return json.Marshal(d.Names()) }

// Len is the number of fields.
func (d Data) Len() int { return len(d.m) }

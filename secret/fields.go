package secret

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
)

// Fields is a set of named key values, such as {"primary", "secondary"}.
// Printing it shows the names and fingerprints only, never a value.
type Fields map[string]Value

// Names returns the field names in sorted order.
func (f Fields) Names() []string { return slices.Sorted(maps.Keys(f)) }

// Fingerprints maps each field name to its value's fingerprint.
func (f Fields) Fingerprints() map[string]string {
	out := make(map[string]string, len(f))
	for name, v := range f {
		out[name] = v.Fingerprint()
	}
	return out
}

// String implements fmt.Stringer.
func (f Fields) String() string {
	s := "{"
	for i, name := range f.Names() {
		if i > 0 {
			s += " "
		}
		s += name + ":" + f[name].Fingerprint()
	}
	return s + "}"
}

// GoString implements fmt.GoStringer.
func (f Fields) GoString() string { return "secret.Fields" + f.String() }

// Format implements fmt.Formatter.
func (f Fields) Format(s fmt.State, verb rune) {
	if verb == 'v' && s.Flag('#') {
		_, _ = s.Write([]byte(f.GoString()))
		return
	}
	_, _ = s.Write([]byte(f.String()))
}

// LogValue implements slog.LogValuer.
func (f Fields) LogValue() slog.Value { return slog.StringValue(f.String()) }

package sources

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// Key formats a Type may name in KeyFormat.
const (
	// KeyText is any printable ASCII without spaces: the rule for every key
	// whose format Azure does not document.
	KeyText = ""
	// KeyBase64 is standard, padded base64 of at least MinKeyBytes bytes.
	KeyBase64 = "base64"
)

// Bounds on one key value. Real keys are 44 to 88 characters, connection
// strings a few hundred.
const (
	MaxKeyLen   = 1024
	MinKeyBytes = 16
)

// KeyShapeError is a key value of the wrong shape in an answer. It names
// the field and what is wrong, never the value.
type KeyShapeError struct {
	Field   string
	Problem string
}

func (e *KeyShapeError) Error() string {
	return fmt.Sprintf("keys response field %s is malformed: %s; nothing was written", e.Field, e.Problem)
}

// CheckKey checks one value of the answer before anything plans with it:
// non-empty, at most MaxKeyLen bytes of printable ASCII, and the type's
// format. Connection strings (fields ending in "ConnectionString") are
// Key=Value pairs separated by ';'.
func (t Type) CheckKey(field, value string) error {
	if p := keyProblem(t, field, value); p != "" {
		return &KeyShapeError{Field: field, Problem: p}
	}
	return nil
}

func keyProblem(t Type, field, value string) string {
	conn := strings.HasSuffix(field, "ConnectionString")
	switch {
	case value == "":
		return "it is empty"
	case len(value) > MaxKeyLen:
		return fmt.Sprintf("it is longer than %d bytes", MaxKeyLen)
	case !printable(value, conn):
		return "it holds a control, space or non-ASCII character"
	case conn:
		return connectionStringProblem(value)
	case t.KeyFormat == KeyBase64:
		return base64Problem(value)
	}
	return ""
}

// printable reports whether s is printable ASCII; spaces only where
// allowed.
func printable(s string, spaces bool) bool {
	for i := range len(s) {
		c := s[i]
		if c > 0x7e || c < 0x20 || (c == ' ' && !spaces) {
			return false
		}
	}
	return true
}

func connectionStringProblem(s string) string {
	for part := range strings.SplitSeq(strings.TrimSuffix(s, ";"), ";") {
		name, _, ok := strings.Cut(part, "=")
		if !ok || strings.TrimSpace(name) == "" {
			return "it is not a connection string of Key=Value pairs separated by ';'"
		}
	}
	return ""
}

func base64Problem(s string) string {
	b, err := base64.StdEncoding.DecodeString(s)
	switch {
	case err != nil:
		return "it is not base64"
	case len(b) < MinKeyBytes:
		return fmt.Sprintf("it decodes to fewer than %d bytes", MinKeyBytes)
	}
	return ""
}

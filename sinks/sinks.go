// Package sinks defines what every secret store shares: the classified error
// it returns. The Vault KV sink lives in sinks/vault.
package sinks

import (
	"errors"
	"fmt"

	"github.com/keysync/keysync/fault"
)

// ErrConflict means a check-and-set write lost to another writer: re-read,
// re-plan, and try again.
var ErrConflict = errors.New("check-and-set conflict: the secret changed since it was read")

// Error is a failed call to a sink, classified once, where it happened.
type Error struct {
	// Op is what keysync was doing: "read", "write", "write-metadata",
	// "check-mount", "login".
	Op string
	// Path is the secret's path under the mount, or what else the call
	// was about; empty when the message says it.
	Path string
	// StatusCode is the HTTP status, 0 for transport errors.
	StatusCode int
	// Transient is true when the same call may succeed later (sealed,
	// unreachable, 5xx, 429).
	Transient bool
	// Err is the underlying error. Vault's errors never quote secret data.
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	where := e.Op
	if e.Path != "" {
		where += " " + e.Path
	}
	if e.StatusCode != 0 {
		return fmt.Sprintf("vault %s: HTTP %d: %v", where, e.StatusCode, e.Err)
	}
	return fmt.Sprintf("vault %s: %v", where, e.Err)
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Fault implements fault.Error.
func (e *Error) Fault() fault.Class {
	code := "VaultTransport"
	if e.StatusCode != 0 {
		code = fmt.Sprintf("VaultHTTP%d", e.StatusCode)
	}
	return fault.Class{Transient: e.Transient, Code: code}
}

// Package sinks is the contract of a secret store: the Sink interface, the
// state it reads (State), the change it makes (Write), and the classified
// error it returns (Error). The Vault KV sink lives in sinks/vault; an
// in-memory one for fast tests in sinks/memsink.
package sinks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/keysync/keysync/fault"
	"github.com/keysync/keysync/secret"
)

// Sink holds secrets by path. Read returns the state a plan starts from;
// Write makes one planned write true. A Sink never decides what to write:
// package plan does, and the runner hands the Write over.
type Sink interface {
	Read(ctx context.Context, path string) (State, error)
	Write(ctx context.Context, path string, w Write) error
}

// Lister is a Sink that can list the secrets under a path prefix.
type Lister interface {
	// List returns the paths of the secrets under prefix, at any depth,
	// at most limit of them; more is an error, never a short list.
	List(ctx context.Context, prefix string, limit int) ([]string, error)
}

// Surveyor is a Sink that can tell, in a few requests, which of many paths
// hold nothing at all (no data and no metadata), so that their creates
// need not read first. Only a sink whose creates check and set (see
// Write.Create) may be one: a create planned on its word fails, and never
// overwrites, when a secret appeared since.
type Surveyor interface {
	// Absent reports, for each of paths, whether it holds nothing now;
	// a path it could not look at is not absent. nil, nil means the sink
	// could not tell at a reasonable cost.
	Absent(ctx context.Context, paths []string) ([]bool, error)
}

// ErrTooMany means a List found more secrets than it may return.
var ErrTooMany = errors.New("more secrets under the prefix than the bound allows")

// State is what a sink holds at a path.
type State struct {
	// Exists is true when a live version of the secret holds data.
	Exists bool
	// Version is the version a write must check-and-set against: the
	// latest one, even when it is deleted; 0 when there is none, and
	// always 0 where the store keeps no versions.
	Version int
	// Versioned is true where the store keeps versions and metadata and
	// can check-and-set (KV v2).
	Versioned bool
	// Metadata is the secret's custom metadata, foreign keys included;
	// nil when there is none.
	Metadata map[string]string
	// Data is every field at the path, foreign ones included.
	Data secret.Data
	// Created is when the live version was written, as the store itself
	// records it (Vault's created_time): only a data write changes it,
	// so a writer of the metadata alone cannot move it. Zero where the
	// store does not say (KV v1) or no live version exists.
	Created time.Time
}

// Write is one change to a secret, whole: a sink writes what it is given and
// merges nothing.
type Write struct {
	// Data, when it has fields, is the secret's full data to write, the
	// fields keysync does not manage included.
	Data secret.Data
	// Metadata, when not nil, is the full custom metadata to write (on a
	// Create, the keys to set in it).
	Metadata map[string]string
	// BaseVersion is the version a versioned data write checks and sets
	// against: another writer in between makes Write fail with ErrConflict.
	BaseVersion int
	// Create is true when no secret existed: a versioned sink writes the
	// data first (check-and-set, so a secret that appeared since fails
	// with ErrConflict), then sets Metadata's keys in the path's custom
	// metadata and keeps any others there, so that nothing another
	// writer put at the path is lost.
	Create bool
	// Delete removes the secret whole, every version and its metadata;
	// Data and Metadata are then empty.
	Delete bool
}

// WritesData reports whether w writes the secret's data.
func (w Write) WritesData() bool { return w.Data.Len() > 0 }

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

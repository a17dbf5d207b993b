// Package memsource is a key source held in memory, for fast tests of what
// sits above a source: the runner and the scheduler. It speaks the same
// contract as sources/azure (sources.Rotator, classified *sources.Error),
// in the way external-dns's inmemory provider stands in for a DNS API. The
// real source is tested against the ARM emulator; this one never replaces
// that.
package memsource

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"maps"
	"net/http"
	"sync"

	"github.com/keysync/keysync/secret"
	"github.com/keysync/keysync/sources"
)

// Source holds accounts and their keys.
type Source struct {
	// Hook, when set, runs before every call with the operation ("fetch"
	// or "regenerate"); an error it returns is the call's answer. Tests
	// use it to fail, throttle or hold a call.
	Hook func(ctx context.Context, op string, a sources.Account) error

	mu       sync.Mutex
	accounts map[string]map[string]string
	calls    map[string]int
}

// New returns an empty Source.
func New() *Source {
	return &Source{accounts: map[string]map[string]string{}, calls: map[string]int{}}
}

// Add creates an account with a fresh random value for each named key.
func (s *Source) Add(a sources.Account, keys ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]string, len(keys))
	for _, k := range keys {
		m[k] = newKey()
	}
	s.accounts[a.Key()] = m
}

// Keys returns the account's current keys, for a test to compare with what
// a sink holds; nil for an unknown account.
func (s *Source) Keys(a sources.Account) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.accounts[a.Key()])
}

// Calls counts the calls of op ("fetch", "regenerate") for the account.
func (s *Source) Calls(op string, a sources.Account) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op+" "+a.Key()]
}

// Fetch implements sources.Source.
func (s *Source) Fetch(ctx context.Context, a sources.Account) (secret.Fields, error) {
	return s.do(ctx, "fetch", a, func(map[string]string) error { return nil })
}

// Regenerate implements sources.Rotator: the named key gets a new value.
func (s *Source) Regenerate(ctx context.Context, a sources.Account, key string) (secret.Fields, error) {
	return s.do(ctx, "regenerate", a, func(m map[string]string) error {
		if _, ok := m[key]; !ok {
			return &sources.Error{StatusCode: http.StatusBadRequest, Code: "InvalidKeyName", Message: fmt.Sprintf("no key named %q", key)}
		}
		m[key] = newKey()
		return nil
	})
}

func (s *Source) do(ctx context.Context, op string, a sources.Account, change func(map[string]string) error) (secret.Fields, error) {
	if err := ctx.Err(); err != nil {
		return nil, &sources.Error{Err: err, Transient: true, Code: "Timeout"}
	}
	s.count(op, a)
	if s.Hook != nil {
		if err := s.Hook(ctx, op, a); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.accounts[a.Key()]
	if !ok {
		return nil, &sources.Error{StatusCode: http.StatusNotFound, Code: "ResourceNotFound", Message: "no account " + a.Name}
	}
	if err := change(m); err != nil {
		return nil, err
	}
	out := make(secret.Fields, len(m))
	for k, v := range m {
		out[k] = secret.New(v)
	}
	return out, nil
}

func (s *Source) count(op string, a sources.Account) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[op+" "+a.Key()]++
}

// newKey is a random 32-byte key in base64, as Batch and Storage keys are.
func newKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

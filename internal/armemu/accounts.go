package armemu

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Account is one emulated resource with keys.
type Account struct {
	Resource
	// KeysDisabled makes listKeys fail as for a resource whose key
	// authentication is switched off (Batch: SharedKey not in
	// allowedAuthenticationModes), with the type's Disabled error.
	KeysDisabled bool
	// Keys holds the current value of every key field, by the answer's own
	// field name (for Storage, by keyName), connection strings included.
	Keys map[string]string
	// History holds every key value this account has had, oldest first.
	History []string
	// Endpoints are a Storage account's properties.primaryEndpoints, by
	// service; SetEndpoints sets them, Add the cloud's defaults.
	Endpoints map[string]string
	// Tags are the resource's tags (for Event Hubs and Service Bus, the
	// namespace's), as SetTags set them; Get fills them in.
	Tags map[string]string
}

// Add creates a resource with fresh random keys and returns a copy. An
// existing resource of the same id is replaced. A type the emulator does
// not serve is a bug in the caller: Add panics.
func (e *Emulator) Add(r Resource) Account {
	t, err := r.kind()
	if err != nil {
		panic(err)
	}
	r.Type = r.typeName()
	a := &Account{Resource: r, Keys: map[string]string{}}
	for _, f := range t.Keys {
		a.setKey(t, f)
	}
	a.Endpoints = defaultEndpoints(r)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.accounts[r.key()] = a
	e.disc.resources = nil
	return a.copy()
}

// Get returns a copy of a resource.
func (e *Emulator) Get(r Resource) (Account, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	a, ok := e.accounts[r.key()]
	if !ok {
		return Account{}, false
	}
	c := a.copy()
	c.Tags = e.tagsOf(r)
	return c, true
}

// SetKeysDisabled switches a resource's key authentication off or on, and
// publishes the resource's ResourceWriteSuccess event.
func (e *Emulator) SetKeysDisabled(r Resource, disabled bool) error {
	err := e.withAccount(r, func(a *Account) error {
		a.KeysDisabled = disabled
		return nil
	})
	if err == nil {
		e.emitKeysDisabled(r)
	}
	return err
}

// Regenerate gives one key field of a resource a new value, as the type's
// regenerate action does, and returns a copy; the connection string built
// on the key follows. It publishes the ResourceActionSuccess event of the
// type's regenerate action.
func (e *Emulator) Regenerate(r Resource, field string) (Account, error) {
	a, err := e.regenerate(r, field)
	if err == nil {
		e.emitRegenerate(r)
	}
	return a, err
}

// regenerate is Regenerate without the event, for the ARM handler, which
// publishes the event as the request spelt it.
func (e *Emulator) regenerate(r Resource, field string) (Account, error) {
	var out Account
	err := e.withAccount(r, func(a *Account) error {
		t, _ := a.kind()
		if !slices.Contains(t.Keys, field) {
			return fmt.Errorf("%s has no key field %q", r.ID(), field)
		}
		a.setKey(t, field)
		out = a.copy()
		return nil
	})
	return out, err
}

// Requests returns how many ARM requests for a resource have arrived,
// counted on arrival (before latency, throttling or faults).
func (e *Emulator) Requests(r Resource) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.requests[r.key()]
}

// RequestTimes returns when each ARM request for a resource arrived.
func (e *Emulator) RequestTimes(r Resource) []time.Time {
	var out []time.Time
	for _, req := range e.RequestsOf(r) {
		out = append(out, req.Time)
	}
	return out
}

// RequestsOf returns the ARM requests for a resource (its keys and
// regenerate actions), oldest first: RequestLog's, without copying every
// other resource's.
func (e *Emulator) RequestsOf(r Resource) []Request {
	k := r.key()
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Request
	for _, req := range e.log {
		if req.Account == k {
			out = append(out, req)
		}
	}
	return out
}

// AllKeys returns every key value any account has ever had, for tests that
// check no key reaches an output.
func (e *Emulator) AllKeys() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, a := range e.accounts {
		out = append(out, a.History...)
	}
	return out
}

func (e *Emulator) withAccount(r Resource, f func(*Account) error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	a, ok := e.accounts[r.key()]
	if !ok {
		return fmt.Errorf("no resource %s", r.ID())
	}
	return f(a)
}

// setKey gives field a new key, and the connection string built on it
// (Event Hubs, Service Bus, SignalR) follows; both go to the history.
func (a *Account) setKey(t Type, field string) {
	v := newKey(t.KeyBytes)
	a.Keys[field] = v
	a.History = append(a.History, v)
	if cs, ok := t.ConnStrings[field]; ok {
		conn := t.Conn(a.Resource, v)
		a.Keys[cs] = conn
		a.History = append(a.History, conn)
	}
}

func (a *Account) copy() Account {
	c := *a
	c.Keys = maps.Clone(a.Keys)
	c.History = slices.Clone(a.History)
	c.Endpoints = maps.Clone(a.Endpoints)
	return c
}

// newKey makes a key of n random bytes (64 when n is 0), base64: the shape
// of a Batch, Storage or Cosmos DB key; Event Hubs and Service Bus keys are
// 32 bytes.
func newKey(n int) string {
	if n == 0 {
		n = 64
	}
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

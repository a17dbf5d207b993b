// Package armemu is an emulator of the parts of Azure Resource Manager that
// keysync talks to, faithful to the documented API: HTTPS with a CA it
// generates, the Batch "Get Keys" action (POST .../listKeys) with method,
// api-version and bearer token checked, CloudError bodies, ARM's request-id
// and rate-limit headers, and an App Service-style managed-identity token
// endpoint, so that clients go through the real azidentity and azcore code.
//
// Faults can be injected per account (status and CloudError code with
// Retry-After, raw or absurd, connection reset, truncated JSON, an HTML
// gateway page, a hang, a huge streamed body, a body cut mid-stream, a
// redirect, a malformed key in a good answer) and per managed identity on
// the token endpoint. It runs in-process from tests (New, Start) and as a process
// (cmd/armemu), where an admin API under /_emulator/ does the same.
package armemu

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/keysync/keysync/sources"
)

// APIVersion is the Batch management API version the emulator serves.
const APIVersion = "2024-02-01"

// DefaultAudience is the token audience ARM accepts in the public cloud.
const DefaultAudience = "https://management.core.windows.net/"

// Emulator holds the accounts, tokens and faults, and serves them.
type Emulator struct {
	// IdentityHeader is the secret a client must send as X-IDENTITY-HEADER
	// to the managed-identity endpoint (IDENTITY_HEADER in the client's env).
	IdentityHeader string
	// Audience is the resource a token must have been issued for.
	Audience string
	// TokenTTL is how long issued tokens live.
	TokenTTL time.Duration

	mu        sync.Mutex
	accounts  map[string]*Account // by lower-case resource id
	tokens    map[string]token
	faults    map[string][]Fault
	requests  map[string]int
	log       []Request
	buckets   map[string]*bucket
	throttle  *Throttle
	chaos     *chaos
	throttled int
	latency   time.Duration
	reqSeq    int

	server  *http.Server
	ln      net.Listener
	ca      *authority
	closing chan struct{}
	hangs   sync.WaitGroup
}

// Account is one emulated resource with keys: a Batch account, or any
// other type of sources.Types.
type Account struct {
	SubscriptionID string
	ResourceGroup  string
	Name           string
	Type           string
	Rule           string
	// SharedKeyDisabled makes listKeys fail as for a resource whose key
	// authentication is switched off (Batch: SharedKey not in
	// allowedAuthenticationModes).
	SharedKeyDisabled bool
	// Keys holds the current value of every key field, by the response's
	// own field name (for Storage, by keyName).
	Keys map[string]string
	// Primary and Secondary mirror Keys for Batch.
	Primary   string
	Secondary string
	// History holds every key value this account has had, oldest first.
	History []string
}

type token struct {
	resource string
	expires  time.Time
}

// New returns an emulator with no accounts.
func New() *Emulator {
	return &Emulator{
		IdentityHeader: randomString(16),
		Audience:       DefaultAudience,
		TokenTTL:       time.Hour,
		accounts:       map[string]*Account{},
		tokens:         map[string]token{},
		faults:         map[string][]Fault{},
		requests:       map[string]int{},
		buckets:        map[string]*bucket{},
		closing:        make(chan struct{}),
	}
}

// Start serves HTTPS on addr ("127.0.0.1:0" for a free port).
func (e *Emulator) Start(addr string) error {
	ca, err := newAuthority()
	if err != nil {
		return err
	}
	e.ca = ca
	leaf, err := ca.leaf()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("armemu listen: %w", err)
	}
	e.ln = ln
	e.server = &http.Server{Handler: e.routes(), ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{leaf}, MinVersion: tls.VersionTLS12},
		// HTTP/1.1 only, so that a reset fault can take the TCP connection
		// and reset it; HTTP/2 would only reset a stream.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){}}
	go func() { _ = e.server.ServeTLS(ln, "", "") }()
	return nil
}

// URL is the base URL, the Resource Manager endpoint clients use.
func (e *Emulator) URL() string { return "https://" + e.ln.Addr().String() }

// IdentityEndpoint is the managed-identity endpoint (IDENTITY_ENDPOINT).
func (e *Emulator) IdentityEndpoint() string { return e.URL() + "/msi/token" }

// CACertPEM is the PEM of the CA that signed the server's certificate;
// clients trust it through SSL_CERT_FILE.
func (e *Emulator) CACertPEM() []byte { return e.ca.certPEM }

// Close stops the server and releases hanging requests.
func (e *Emulator) Close() error {
	close(e.closing)
	err := e.server.Close()
	e.hangs.Wait()
	return err
}

// AddAccount creates a Batch account with fresh random keys and returns a
// copy.
func (e *Emulator) AddAccount(sub, rg, name string) Account {
	return e.AddResource(sources.Account{SubscriptionID: sub, ResourceGroup: rg, Name: name})
}

// AddResource creates a resource of any type with fresh random keys.
func (e *Emulator) AddResource(r sources.Account) Account {
	e.mu.Lock()
	defer e.mu.Unlock()
	a := &Account{SubscriptionID: r.SubscriptionID, ResourceGroup: r.ResourceGroup, Name: r.Name,
		Type: r.Type, Rule: r.Rule, Keys: map[string]string{}}
	for _, f := range keyFields(r.Kind()) {
		a.setKey(f, newKey())
	}
	e.accounts[idKey(r)] = a
	return a.copy()
}

// SetSharedKeyDisabled switches a Batch account's key authentication off or on.
func (e *Emulator) SetSharedKeyDisabled(sub, rg, name string, disabled bool) error {
	return e.SetKeysDisabled(batch(sub, rg, name), disabled)
}

// SetKeysDisabled switches any resource's key authentication off or on.
func (e *Emulator) SetKeysDisabled(r sources.Account, disabled bool) error {
	return e.withAccount(r, func(a *Account) { a.SharedKeyDisabled = disabled })
}

// Regenerate gives a Batch account's named key ("primary" or "secondary") a
// new value, as the regenerateKeys action does, and returns a copy.
func (e *Emulator) Regenerate(sub, rg, name, which string) (Account, error) {
	return e.RegenerateField(batch(sub, rg, name), strings.ToLower(which))
}

// RegenerateField gives one key field of any resource a new value; the
// connection strings built on it follow.
func (e *Emulator) RegenerateField(r sources.Account, field string) (Account, error) {
	var out Account
	var known bool
	err := e.withAccount(r, func(a *Account) {
		if _, known = a.Keys[field]; known {
			a.setKey(field, newKey())
		}
		out = a.copy()
	})
	if err == nil && !known {
		return out, fmt.Errorf("%s has no key field %q", r.ResourceID(), field)
	}
	return out, err
}

// keyFields are the key fields a type's resources get: its Fields, or
// key1 and key2 for a keys array (Storage). Connection strings are derived.
func keyFields(t sources.Type) []string {
	if t.KeysArray {
		return []string{"key1", "key2"}
	}
	var out []string
	for _, f := range t.Fields {
		if !strings.HasSuffix(f, "ConnectionString") {
			out = append(out, f)
		}
	}
	return out
}

// setKey sets a key, the connection string built on it (Event Hubs,
// Service Bus, SignalR), and the history.
func (a *Account) setKey(field, value string) {
	a.Keys[field] = value
	a.History = append(a.History, value)
	if base, ok := strings.CutSuffix(field, "Key"); ok {
		if cs := base + "ConnectionString"; slices.Contains(a.kind().Fields, cs) {
			conn := fmt.Sprintf("Endpoint=sb://%s.servicebus.windows.net/;SharedAccessKeyName=%s;SharedAccessKey=%s", a.Name, a.Rule, value)
			a.Keys[cs] = conn
			a.History = append(a.History, conn)
		}
	}
	a.Primary, a.Secondary = a.Keys["primary"], a.Keys["secondary"]
}

func (a *Account) kind() sources.Type { return sources.Account{Type: a.Type}.Kind() }

func (a *Account) copy() Account {
	c := *a
	c.Keys = maps.Clone(a.Keys)
	c.History = append([]string(nil), a.History...)
	return c
}

func batch(sub, rg, name string) sources.Account {
	return sources.Account{SubscriptionID: sub, ResourceGroup: rg, Name: name}
}

// SetLatency makes every ARM answer wait d first, like a distant region.
func (e *Emulator) SetLatency(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.latency = d
}

// Get returns a copy of a Batch account.
func (e *Emulator) Get(sub, rg, name string) (Account, bool) {
	return e.GetResource(batch(sub, rg, name))
}

// GetResource returns a copy of a resource of any type.
func (e *Emulator) GetResource(r sources.Account) (Account, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	a, ok := e.accounts[idKey(r)]
	if !ok {
		return Account{}, false
	}
	return a.copy(), true
}

// Requests returns how many requests for a Batch account have arrived,
// counted on arrival (before latency, throttling or faults).
func (e *Emulator) Requests(sub, rg, name string) int {
	return e.ResourceRequests(batch(sub, rg, name))
}

// ResourceRequests is Requests for a resource of any type.
func (e *Emulator) ResourceRequests(r sources.Account) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.requests[idKey(r)]
}

func (e *Emulator) withAccount(r sources.Account, f func(*Account)) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	a, ok := e.accounts[idKey(r)]
	if !ok {
		return fmt.Errorf("no resource %s", r.ResourceID())
	}
	f(a)
	return nil
}

// idKey is a resource's identity: its resource id, in lower case as ARM
// compares them.
func idKey(r sources.Account) string { return strings.ToLower(r.ResourceID()) }

func resourceKey(sub, rg, name string) string { return idKey(batch(sub, rg, name)) }

// newKey makes a key shaped like a real Batch key: 64 random bytes, base64.
func newKey() string {
	b := make([]byte, 64)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Request is what the emulator saw of one ARM request, for tests that check
// the client sends exactly the documented request.
type Request struct {
	Method, Path, RawQuery string
	// ClientRequestID is x-ms-client-request-id, set by azcore.
	ClientRequestID string
	UserAgent       string
	Authorized      bool
	// Account is the lower-case resource id, when the path names one.
	Account string
	// Time is when the request arrived.
	Time time.Time
}

// RequestLog returns every ARM request seen so far, oldest first.
func (e *Emulator) RequestLog() []Request {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Request(nil), e.log...)
}

func (e *Emulator) record(r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	rec := Request{Method: r.Method, Path: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery,
		ClientRequestID: r.Header.Get("x-ms-client-request-id"), UserAgent: r.Header.Get("User-Agent"),
		Authorized: strings.HasPrefix(r.Header.Get("Authorization"), "Bearer "), Time: time.Now()}
	if p, ok := parseARMPath(r.URL.Path); ok {
		rec.Account = idKey(p.resource)
		e.requests[rec.Account]++
	}
	e.log = append(e.log, rec)
}

// RequestTimes returns when each ARM request for an account arrived.
func (e *Emulator) RequestTimes(sub, rg, name string) []time.Time {
	k := resourceKey(sub, rg, name)
	var out []time.Time
	for _, r := range e.RequestLog() {
		if r.Account == k {
			out = append(out, r.Time)
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

// TokenResource returns the resource a token was issued for, and whether
// the emulator issued it at all.
func (e *Emulator) TokenResource(tok string) (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, ok := e.tokens[tok]
	return t.resource, ok
}

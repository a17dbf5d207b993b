// Package armemu is an emulator of the parts of Azure Resource Manager that
// keysync talks to, faithful to the documented API: HTTPS with a CA it
// generates, the keys actions (listKeys, listAdminKeys) and regenerate
// actions of ten resource types with method, api-version and bearer token
// checked, CloudError bodies, ARM's request-id and rate-limit headers, and
// an App Service-style managed-identity token endpoint, so that clients go
// through the real azidentity and azcore code.
//
// What each type's actions are called, which api-versions they accept and
// what they answer comes from the emulator's own table (Types), written
// from Azure's REST API specs: it imports nothing of keysync, so it is an
// oracle for keysync's table, not a copy of it.
//
// For discovery it serves Azure Resource Graph's query API (a KQL subset
// parsed by its own small parser, $skipToken paging bound to the query and
// scope, the per-caller quota and its headers), GET /subscriptions with
// subscription states, and each type's list-by-subscription API paged by
// nextLink; resources carry tags and subscriptions can sit in management
// groups.
//
// Faults can be injected per account (status and CloudError code with
// Retry-After, raw or absurd, connection reset, truncated JSON, an HTML
// gateway page, a hang, a hold the test releases, a huge streamed body, a
// body cut mid-stream, a redirect, a malformed key in a good answer, a raw
// body of the test's choosing), per discovery endpoint (Resource Graph's
// also per managed identity), and per managed identity on the token
// endpoint.
//
// Like an Azure subscription's Event Grid system topic, it publishes
// Microsoft.Resources.ResourceActionSuccess for every keys and regenerate
// action (and ResourceWriteSuccess when key authentication is switched) and
// delivers the events to webhooks (Subscribe) in the Event Grid or
// CloudEvents schema, after the schema's validation handshake, with Event
// Grid's headers, batching and retry schedule, and, for Microsoft
// Entra-protected webhooks, bearer tokens of its own Entra tenant, whose
// signing keys it serves (EntraTenant).
//
// It runs in-process from tests (New, Start) and as a process
// (cmd/armemu), where an admin API under /_emulator/ does the same.
package armemu

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

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
	accounts  map[string]*Account // by Resource.key
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
	disc      discoveryState
	lro       lroState
	// links maps a request's Host to the host its answer's URLs name
	// (SetLinkHost).
	links map[string]string

	server  *http.Server
	ln      net.Listener
	ca      *authority
	closing chan struct{}
	hangs   sync.WaitGroup

	eg *eventGrid
	// entra is the first Entra tenant; entras every tenant (this one
	// too), by id.
	entra  *entraTenant
	entras sync.Map
	held   holds
}

type token struct {
	resource string
	client   string
	expires  time.Time
}

// New returns an emulator with no accounts.
func New() *Emulator {
	first, err := newEntraTenant(CloudPublic)
	if err != nil {
		panic(fmt.Sprintf("armemu: %v", err)) // a name from the emulator's own table
	}
	e := &Emulator{
		IdentityHeader: randomString(16),
		Audience:       DefaultAudience,
		TokenTTL:       time.Hour,
		accounts:       map[string]*Account{},
		tokens:         map[string]token{},
		faults:         map[string][]Fault{},
		requests:       map[string]int{},
		buckets:        map[string]*bucket{},
		closing:        make(chan struct{}),
		eg:             newEventGrid(),
		entra:          first,
	}
	e.entras.Store(first.id, first)
	return e
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

// Close stops Event Grid deliveries and the server, and releases hanging
// requests.
func (e *Emulator) Close() error {
	e.closeEventGrid()
	close(e.closing)
	err := e.server.Close()
	e.hangs.Wait()
	return err
}

// SetLatency makes every ARM answer wait d first, like a distant region.
func (e *Emulator) SetLatency(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.latency = d
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
	// Host is the Host header, as the client addressed the request.
	Host string
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
	rec := Request{Method: r.Method, Path: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery, Host: r.Host,
		ClientRequestID: r.Header.Get("x-ms-client-request-id"), UserAgent: r.Header.Get("User-Agent"),
		Authorized: strings.HasPrefix(r.Header.Get("Authorization"), "Bearer "), Time: time.Now()}
	if p, ok := parseARMPath(r.URL.Path); ok {
		rec.Account = p.res.key()
		e.requests[rec.Account]++
	}
	e.log = append(e.log, rec)
}

// TokenResource returns the resource a token was issued for, and whether
// the emulator issued it at all.
func (e *Emulator) TokenResource(tok string) (string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, ok := e.tokens[tok]
	return t.resource, ok
}

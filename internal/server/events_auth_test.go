package server

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

const (
	testTenant   = "11111111-2222-3333-4444-555555555555"
	testAudience = "api://keysync-events"
	testIssuer   = "https://login.example/" + testTenant + "/v2.0"
	// eventGridApp is Event Grid's application in Azure public
	// (config.eventGridAppIDs cites where); otherApp another application
	// of the tenant that was granted the webhook's role too.
	eventGridApp = "4962773b-9cdb-44cf-a8bf-237846a00ab7"
	otherApp     = "0b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b"
)

// entraFixture is a tenant's signing key served as a JWKS over TLS.
type entraFixture struct {
	key     *rsa.PrivateKey
	fetches atomic.Int64
	srv     *httptest.Server
}

func newEntraFixture(t *testing.T) *entraFixture {
	t.Helper()
	f := &entraFixture{key: mustRSA(t)}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		f.fetches.Add(1)
		set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &f.key.PublicKey, KeyID: "k1", Use: "sig", Algorithm: "RS256"}}}
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func mustRSA(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// token signs claims with key under kid and method.
func signToken(t *testing.T, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func goodClaims() jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{"aud": testAudience, "iss": testIssuer, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(), "ver": "1.0",
		"appid": eventGridApp, "roles": []string{"other", "AzureEventGridSecureWebhookSubscriber"}}
}

// v2Claims are goodClaims in a v2.0 token: the client in azp.
func v2Claims() jwt.MapClaims {
	c := goodClaims()
	delete(c, "appid")
	c["ver"], c["azp"] = "2.0", eventGridApp
	return c
}

func without(c jwt.MapClaims, k string) jwt.MapClaims {
	delete(c, k)
	return c
}

func with(c jwt.MapClaims, k string, v any) jwt.MapClaims {
	c[k] = v
	return c
}

// TestEventsEntraToken: a delivery passes only with a token signed by the
// tenant's key, RS256, from the issuer, for the audience, within its
// times; a flood of unknown key ids costs at most one fetch a minute, and
// a token refused for its claims is refused whatever key it names.
func TestEventsEntraToken(t *testing.T) {
	f := newEntraFixture(t)
	other := mustRSA(t)
	tests := []struct {
		name string
		tok  func() string
		want int
	}{
		{"valid", func() string { return signToken(t, jwt.SigningMethodRS256, f.key, "k1", goodClaims()) }, 200},
		{"wrong audience", func() string {
			return signToken(t, jwt.SigningMethodRS256, f.key, "k1", with(goodClaims(), "aud", "api://other"))
		}, 401},
		{"wrong issuer", func() string {
			return signToken(t, jwt.SigningMethodRS256, f.key, "k1", with(goodClaims(), "iss", "https://sts.example/other/"))
		}, 401},
		{"expired", func() string {
			return signToken(t, jwt.SigningMethodRS256, f.key, "k1", with(goodClaims(), "exp", time.Now().Add(-2*time.Minute).Unix()))
		}, 401},
		{"no expiry", func() string {
			c := goodClaims()
			delete(c, "exp")
			return signToken(t, jwt.SigningMethodRS256, f.key, "k1", c)
		}, 401},
		{"not yet valid", func() string {
			return signToken(t, jwt.SigningMethodRS256, f.key, "k1", with(goodClaims(), "nbf", time.Now().Add(5*time.Minute).Unix()))
		}, 401},
		{"signed by another key", func() string { return signToken(t, jwt.SigningMethodRS256, other, "k1", goodClaims()) }, 401},
		{"HS256 with the public key's bytes", func() string {
			return signToken(t, jwt.SigningMethodHS256, f.key.N.Bytes(), "k1", goodClaims())
		}, 401},
		{"alg none", func() string {
			return signToken(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "k1", goodClaims())
		}, 401},
		{"RS512", func() string { return signToken(t, jwt.SigningMethodRS512, f.key, "k1", goodClaims()) }, 401},
		// Fetched for "valid" less than a minute ago: the key may have
		// been rolled in since, so Event Grid is told to retry.
		{"unknown kid within the refetch window", func() string { return signToken(t, jwt.SigningMethodRS256, other, "k2", goodClaims()) }, 503},
		{"unknown kid and a wrong issuer", func() string {
			return signToken(t, jwt.SigningMethodRS256, other, "k2", with(goodClaims(), "iss", "https://sts.example/other/"))
		}, 401},
		{"without the role", func() string {
			return signToken(t, jwt.SigningMethodRS256, f.key, "k1", with(goodClaims(), "roles", []string{"other"}))
		}, 401},
		{"roles not a list", func() string {
			return signToken(t, jwt.SigningMethodRS256, f.key, "k1", with(goodClaims(), "roles", "AzureEventGridSecureWebhookSubscriber"))
		}, 401},
		{"a day-long lifetime", func() string {
			return signToken(t, jwt.SigningMethodRS256, f.key, "k1", with(goodClaims(), "exp", time.Now().Add(48*time.Hour).Unix()))
		}, 401},
		{"no iat, so no lifetime to bound", func() string {
			c := with(goodClaims(), "exp", time.Now().Add(365*24*time.Hour).Unix())
			delete(c, "iat")
			return signToken(t, jwt.SigningMethodRS256, f.key, "k1", c)
		}, 401},
		{"aud a list holding the audience", func() string {
			return signToken(t, jwt.SigningMethodRS256, f.key, "k1", with(goodClaims(), "aud", []string{"api://other", testAudience}))
		}, 200},
		{"issuer with a trailing slash", func() string {
			return signToken(t, jwt.SigningMethodRS256, f.key, "k1", with(goodClaims(), "iss", testIssuer+"/"))
		}, 401},
		{"issued in the future", func() string {
			return signToken(t, jwt.SigningMethodRS256, f.key, "k1", with(goodClaims(), "iat", time.Now().Add(10*time.Minute).Unix()))
		}, 401},
		{"no kid", func() string { return signToken(t, jwt.SigningMethodRS256, f.key, "", goodClaims()) }, 401},
		{"PS256 with the tenant's key", func() string { return signToken(t, jwt.SigningMethodPS256, f.key, "k1", goodClaims()) }, 401},
	}
	tests = append(tests, clientCases(t, f)...)
	e := newEventsEnv(t, func(h *EventsHandler) {
		h.Secret, h.SecretHeader, h.SecretQuery = nil, "", ""
		h.Entra = &EntraOptions{Audience: testAudience, Issuers: []string{testIssuer}, KeysURL: f.srv.URL, Client: f.srv.Client(),
			Role: "AzureEventGridSecureWebhookSubscriber", AppID: eventGridApp}
	})
	body := mustJSON(t, []any{resourceEvent("i", "Microsoft.Resources.ResourceActionSuccess", "Microsoft.Batch/batchAccounts/listKeys/action", batchAcct.ResourceID())})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := e.post("application/json", body, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tt.tok()) })
			if w.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.want, w.Body)
			}
		})
	}
	for range 100 {
		e.post("application/json", body, func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer "+signToken(t, jwt.SigningMethodRS256, other, "made-up", goodClaims()))
		})
	}
	if n := f.fetches.Load(); n != 1 {
		t.Fatalf("%d key set fetches, want 1: unknown kids within a minute must not fetch again", n)
	}
}

// clientCases are tokens judged by the application they were issued to:
// Event Grid's passes in either version; another application of the
// tenant, with the role, the audience and the tenant's signature, does
// not, nor does a token that names Event Grid only in the other
// version's claim or states no version.
func clientCases(t *testing.T, f *entraFixture) []struct {
	name string
	tok  func() string
	want int
} {
	sign := func(c jwt.MapClaims) func() string {
		return func() string { return signToken(t, jwt.SigningMethodRS256, f.key, "k1", c) }
	}
	return []struct {
		name string
		tok  func() string
		want int
	}{
		{"v2 from Event Grid", sign(v2Claims()), 200},
		{"v1 from another app with the role", sign(with(goodClaims(), "appid", otherApp)), 401},
		{"v2 from another app with the role", sign(with(v2Claims(), "azp", otherApp)), 401},
		{"v1 naming Event Grid only in azp", sign(with(with(goodClaims(), "appid", otherApp), "azp", eventGridApp)), 401},
		{"v2 naming Event Grid only in appid", sign(with(with(v2Claims(), "azp", otherApp), "appid", eventGridApp)), 401},
		{"v1 without appid", sign(without(goodClaims(), "appid")), 401},
		{"no version", sign(without(goodClaims(), "ver")), 401},
		{"an unknown version", sign(with(goodClaims(), "ver", "3.0")), 401},
		{"appid in upper case (a GUID has none)", sign(with(goodClaims(), "appid", strings.ToUpper(eventGridApp))), 200},
		{"appid not a string", sign(with(goodClaims(), "appid", 42)), 401},
	}
}

// TestEventsSecretAndEntra: with both configured, a delivery needs both.
func TestEventsSecretAndEntra(t *testing.T) {
	f := newEntraFixture(t)
	e := newEventsEnv(t, func(h *EventsHandler) {
		h.Entra = &EntraOptions{Audience: testAudience, Issuers: []string{testIssuer}, KeysURL: f.srv.URL, Client: f.srv.Client(), AppID: eventGridApp}
	})
	body := mustJSON(t, []any{resourceEvent("i", "Microsoft.Resources.ResourceActionSuccess", "Microsoft.Batch/batchAccounts/listKeys/action", batchAcct.ResourceID())})
	tok := signToken(t, jwt.SigningMethodRS256, f.key, "k1", goodClaims())
	if w := e.post("application/json", body); w.Code != http.StatusUnauthorized {
		t.Fatalf("secret without token: %d, want 401", w.Code)
	}
	noSecret := func(r *http.Request) { r.Header.Del("X-Keysync-Secret"); r.Header.Set("Authorization", "Bearer "+tok) }
	if w := e.post("application/json", body, noSecret); w.Code != http.StatusUnauthorized {
		t.Fatalf("token without secret: %d, want 401", w.Code)
	}
	if w := e.post("application/json", body, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }); w.Code != http.StatusOK {
		t.Fatalf("both: %d, want 200: %s", w.Code, w.Body)
	}
}

// TestEventsEntraKeysUnavailable: while the tenant's keys cannot be
// fetched, a delivery is answered 503 with Retry-After (Event Grid
// retries it), not 401 (which it drops).
func TestEventsEntraKeysUnavailable(t *testing.T) {
	f := newEntraFixture(t)
	down := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) }))
	t.Cleanup(down.Close)
	e := newEventsEnv(t, func(h *EventsHandler) {
		h.Secret, h.SecretHeader, h.SecretQuery = nil, "", ""
		h.Entra = &EntraOptions{Audience: testAudience, Issuers: []string{testIssuer}, KeysURL: down.URL, Client: down.Client(), AppID: eventGridApp}
	})
	tok := signToken(t, jwt.SigningMethodRS256, f.key, "k1", goodClaims())
	w := e.post("application/json", "[]", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) })
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Fatalf("status %d headers %v, want 503 with Retry-After", w.Code, w.Header())
	}
	if w := e.post("application/json", "[]"); w.Code != http.StatusUnauthorized {
		t.Fatalf("without a token: %d, want 401", w.Code)
	}
	if c := e.h.Counts(); c[outUnverifiable] != 1 || c[outUnauthorized] != 1 {
		t.Fatalf("counts %v", c)
	}
}

// TestParseJWKSSkipsUnreadableKeys: a key the library cannot read (a key
// type or curve it does not know, a malformed EC point) or that keysync
// does not use (small RSA, HMAC, encryption, no kid) is skipped; the
// tenant's RSA signing key beside it stays usable.
func TestParseJWKSSkipsUnreadableKeys(t *testing.T) {
	k := mustRSA(t)
	good, err := json.Marshal(jose.JSONWebKey{Key: &k.PublicKey, KeyID: "k1", Use: "sig", Algorithm: "RS256"})
	if err != nil {
		t.Fatal(err)
	}
	encKey, err := json.Marshal(jose.JSONWebKey{Key: &mustRSA(t).PublicKey, KeyID: "enc", Use: "enc"})
	if err != nil {
		t.Fatal(err)
	}
	for _, other := range []string{
		`{"kty":"OKP","crv":"X448","x":"AAAA","kid":"o"}`,
		`{"kty":"AKP","alg":"ML-DSA-44","pub":"AAAA","kid":"pq"}`,
		`{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA","kid":"e"}`,
		`{"kty":"RSA","n":"AQAB","e":"AQAB","kid":"small"}`,
		`{"kty":"oct","k":"AAAA","kid":"h"}`,
		`{"kty":"RSA","n":"AQAB","e":"AQAB"}`,
		`"not an object"`,
		string(encKey),
	} {
		keys, err := parseJWKS([]byte(`{"keys":[` + other + `,` + string(good) + `]}`))
		if err != nil || len(keys) != 1 || keys["k1"] == nil || keys["k1"].N.Cmp(k.N) != 0 {
			t.Errorf("beside %s: %d keys, err %v; want k1 alone", other, len(keys), err)
		}
	}
	for _, body := range []string{`{"keys":[{"kty":"foo"}]}`, `{"keys":[]}`, `[]`, `{"keys":{}}`} {
		if keys, err := parseJWKS([]byte(body)); err == nil {
			t.Errorf("%s: %d keys, want an error", body, len(keys))
		}
	}
}

// TestJWKSFetchDoesNotStallKnownKeys: while a fetch of the key set is
// slow (one a token with a made-up key id started, which anyone can send
// once a minute), a token whose key is held is checked at once; a token
// with another unknown key id waits for that fetch rather than starting
// one, and finds a key it brought.
func TestJWKSFetchDoesNotStallKnownKeys(t *testing.T) {
	k1, k2 := mustRSA(t), mustRSA(t)
	release := make(chan struct{})
	var fetches atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k1.PublicKey, KeyID: "k1", Use: "sig"}}}
		if fetches.Add(1) > 1 {
			<-release
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k2.PublicKey, KeyID: "k2", Use: "sig"})
		}
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	j := newJWKS(srv.URL, srv.Client(), slog.New(slog.DiscardHandler))
	t0 := time.Now()
	if _, err := j.key(context.Background(), "k1", t0); err != nil {
		t.Fatal(err)
	}
	later := t0.Add(2 * jwksMinFetch)
	slow := make(chan error, 2)
	go func() { _, err := j.key(context.Background(), "made-up", later); slow <- err }()
	waitFor(t, "the second fetch to start", func() bool { return fetches.Load() == 2 })
	go func() { _, err := j.key(context.Background(), "k2", later); slow <- err }()
	known := make(chan error, 1)
	go func() { _, err := j.key(context.Background(), "k1", later); known <- err }()
	select {
	case err := <-known:
		if err != nil {
			t.Fatalf("held key during a fetch: %v", err)
		}
	case <-time.After(time.Minute): // the fetch is held until the test releases it: waiting on it is forever
		t.Fatal("a token with a held key waited for a slow key set fetch")
	}
	close(release)
	got := []error{<-slow, <-slow}
	if !slices.ContainsFunc(got, func(err error) bool { return err == nil }) || !slices.ContainsFunc(got, func(err error) bool { return errors.Is(err, errUnknownKey) }) {
		t.Fatalf("made-up and k2 after the fetch: %v, want one unknown key and one found", got)
	}
	if n := fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
}

// waitFor polls cond until it holds, or fails the test after a minute:
// it returns as soon as cond holds, so the bound only ends a test that
// would otherwise wait forever.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitForWithin(t, what, time.Minute, cond)
}

// waitForWithin polls cond against a deadline bound away.
func waitForWithin(t *testing.T, what string, bound time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

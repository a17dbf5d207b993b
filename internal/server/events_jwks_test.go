package server

import (
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// rollingKeys is a tenant's key set served over TLS, to which a test adds
// keys as Entra rolls them in, and whose fetches it can make fail.
type rollingKeys struct {
	srv     *httptest.Server
	fetches atomic.Int64
	mu      sync.Mutex
	keys    []jose.JSONWebKey
	down    bool
}

func newRollingKeys(t *testing.T) *rollingKeys {
	t.Helper()
	k := &rollingKeys{}
	k.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		k.fetches.Add(1)
		k.mu.Lock()
		defer k.mu.Unlock()
		if k.down {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: k.keys})
	}))
	t.Cleanup(k.srv.Close)
	return k
}

// add publishes key under kid.
func (k *rollingKeys) add(kid string, key *rsa.PrivateKey) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys = append(k.keys, jose.JSONWebKey{Key: &key.PublicKey, KeyID: kid, Use: "sig", Algorithm: "RS256"})
}

func (k *rollingKeys) setDown(down bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.down = down
}

// entraClock is a settable time for the key set, read by the handler.
type entraClock struct{ now atomic.Int64 }

func (c *entraClock) time() time.Time         { return time.Unix(0, c.now.Load()) }
func (c *entraClock) advance(d time.Duration) { c.now.Add(int64(d)) }

// entraKeysEnv is an events handler trusting keys alone, on a clock of
// the test's.
func entraKeysEnv(t *testing.T, keys *rollingKeys) (*eventsEnv, *entraClock) {
	t.Helper()
	e := newEventsEnv(t, func(h *EventsHandler) {
		h.Secret, h.SecretHeader, h.SecretQuery = nil, "", ""
		h.Entra = &EntraOptions{Audience: testAudience, Issuers: []string{testIssuer}, KeysURL: keys.srv.URL, Client: keys.srv.Client(), AppID: eventGridApp}
	})
	clock := &entraClock{}
	clock.now.Store(time.Now().UnixNano())
	e.h.entra.clock = clock.time
	return e, clock
}

// deliverSigned posts an irrelevant event with a token signed by key
// under kid, and returns the status and Retry-After.
func (e *eventsEnv) deliverSigned(key *rsa.PrivateKey, kid string) (int, string) {
	e.t.Helper()
	tok := signToken(e.t, jwt.SigningMethodRS256, key, kid, goodClaims())
	body := mustJSON(e.t, []any{resourceEvent("i", "Microsoft.Resources.ResourceActionSuccess", "Microsoft.Batch/batchAccounts/listKeys/action", batchAcct.ResourceID())})
	w := e.post("application/json", body, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) })
	return w.Code, w.Header().Get("Retry-After")
}

// TestEventsEntraKeyRolledIn: a token signed by a key the tenant rolled
// in after keysync fetched its set, within the minute in which keysync
// may not fetch again, is answered 503 with Retry-After until that
// minute is over (Event Grid retries a 503 and drops a 401), then
// accepted after one fetch. A made-up key id is told the same while no
// fetch is allowed, and refused once a fetch shows the set lacks it.
func TestEventsEntraKeyRolledIn(t *testing.T) {
	keys := newRollingKeys(t)
	k1, k2, other := mustRSA(t), mustRSA(t), mustRSA(t)
	keys.add("k1", k1)
	e, clock := entraKeysEnv(t, keys)
	steps := []struct {
		name       string
		advance    time.Duration
		key        *rsa.PrivateKey
		kid        string
		status     int
		retryAfter string
		fetches    int64
	}{
		{"the key held", 0, k1, "k1", http.StatusOK, "", 1},
		{"a key rolled in 10 s after the fetch", 10 * time.Second, k2, "k2", http.StatusServiceUnavailable, "50", 1},
		{"the same, a second before a fetch is allowed", 49 * time.Second, k2, "k2", http.StatusServiceUnavailable, "1", 1},
		{"the same once a fetch is allowed", 2 * time.Second, k2, "k2", http.StatusOK, "", 2},
		{"a made-up key id right after that fetch", time.Second, other, "made-up", http.StatusServiceUnavailable, "59", 2},
		{"a made-up key id a minute later", time.Minute, other, "made-up", http.StatusUnauthorized, "", 3},
		{"the old key, still published", 0, k1, "k1", http.StatusOK, "", 3},
	}
	for i, st := range steps {
		if i == 1 {
			keys.add("k2", k2) // after the fetch of step 1
		}
		clock.advance(st.advance)
		code, after := e.deliverSigned(st.key, st.kid)
		if code != st.status || after != st.retryAfter || keys.fetches.Load() != st.fetches {
			t.Fatalf("%s: status %d Retry-After %q after %d fetches, want %d %q after %d", st.name, code, after, keys.fetches.Load(), st.status, st.retryAfter, st.fetches)
		}
	}
	if c := e.h.Counts(); c[outUnverifiable] != 3 || c[outUnauthorized] != 1 {
		t.Fatalf("counts %v, want 3 unverifiable and 1 unauthorized", c)
	}
}

// TestEventsEntraKeyFetchFailed: when the fetch a new key id starts
// fails, the key id was not checked against the tenant's set: the
// delivery is answered 503 with Retry-After, not 401, and a token of a
// key held still passes meanwhile.
func TestEventsEntraKeyFetchFailed(t *testing.T) {
	keys := newRollingKeys(t)
	k1, k2 := mustRSA(t), mustRSA(t)
	keys.add("k1", k1)
	e, clock := entraKeysEnv(t, keys)
	if code, _ := e.deliverSigned(k1, "k1"); code != http.StatusOK {
		t.Fatalf("the key held: %d", code)
	}
	keys.setDown(true)
	clock.advance(2 * time.Minute)
	if code, after := e.deliverSigned(k2, "k2"); code != http.StatusServiceUnavailable || after != "60" || keys.fetches.Load() != 2 {
		t.Fatalf("a new key id while the set cannot be fetched: %d Retry-After %q after %d fetches, want 503 \"60\" after 2", code, after, keys.fetches.Load())
	}
	if code, _ := e.deliverSigned(k1, "k1"); code != http.StatusOK {
		t.Fatalf("the key held, while the set cannot be fetched: %d", code)
	}
	keys.setDown(false)
	keys.add("k2", k2)
	clock.advance(jwksMinFetch)
	if code, _ := e.deliverSigned(k2, "k2"); code != http.StatusOK || keys.fetches.Load() != 3 {
		t.Fatalf("the new key once the set can be fetched: %d after %d fetches", code, keys.fetches.Load())
	}
}

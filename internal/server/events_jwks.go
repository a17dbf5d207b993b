package server

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Bounds of the signing keys: Entra's set is a few kilobytes and a
// handful of keys.
const (
	maxJWKSBody   = 256 << 10
	maxJWKSKeys   = 64
	minRSABits    = 2048
	jwksMaxAge    = time.Hour
	jwksMinFetch  = time.Minute
	jwksTimeout   = 10 * time.Second
	jwksNoKeysErr = "no usable signing key"
)

// errUnknownKey: the token names a key the tenant's set does not hold,
// even after fetching the set again.
var errUnknownKey = errors.New("the token's signing key is not one of the tenant's")

// keyNotYetError: the token names a key the set does not hold, and the
// set was fetched (or tried) too recently to ask again: a key the tenant
// rolled in since may be the one, so the delivery is answered 503 with
// Retry-After, which Event Grid retries, not 401, which it drops
// (learn.microsoft.com/azure/event-grid/delivery-and-retry: 503 "Retry
// after 30 seconds or more"; 401 not retried). After is how long until a
// fetch is allowed again.
type keyNotYetError struct{ After time.Duration }

func (e *keyNotYetError) Error() string {
	return fmt.Sprintf("the token's signing key is not held; the key set may be fetched again in %s", e.After.Round(time.Second))
}

// Unwrap makes it an unknown key too.
func (e *keyNotYetError) Unwrap() error { return errUnknownKey }

// errNoKeys: no signing key is held, the last fetch having failed. No
// token can be checked: the delivery is answered 503, which Event Grid
// retries, not 401, which it does not
// (learn.microsoft.com/azure/event-grid/delivery-and-retry#retry-schedule).
var errNoKeys = errors.New("the tenant's signing keys could not be fetched")

// jwks is a tenant's signing keys (JSON Web Key Set), fetched on first use
// and again after jwksMaxAge or when a token names a key not in it (Entra
// rolls its keys: learn.microsoft.com/entra/identity-platform/signing-key-rollover),
// but never more than once per jwksMinFetch, whatever tokens arrive: a
// flood of made-up key ids costs one fetch a minute. A key not held when
// no fetch is allowed is keyNotYetError (retry later); a key still not
// held after a fetch is errUnknownKey (refused). The fetch runs
// without the lock: a token whose key is held is checked at once while
// it is slow, and only tokens that need the new set wait for it.
type jwks struct {
	url    string
	client *http.Client
	log    *slog.Logger

	mu       sync.Mutex
	keys     map[string]*rsa.PublicKey
	fetched  time.Time     // last success
	tried    time.Time     // last attempt
	failed   bool          // the last attempt failed
	inflight chan struct{} // closed when the fetch under way ends; nil when none
}

func newJWKS(url string, client *http.Client, log *slog.Logger) *jwks {
	if client == nil {
		client = &http.Client{Timeout: jwksTimeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return &jwks{url: url, client: client, log: log}
}

// key returns the RSA key with id kid, fetching the set when it is stale
// or lacks kid and the last attempt is old enough, or waiting for the
// fetch under way when kid is not held. Within jwksMinFetch of the last
// attempt a kid not held is keyNotYetError.
func (j *jwks) key(ctx context.Context, kid string, now time.Time) (*rsa.PublicKey, error) {
	j.mu.Lock()
	k, ok := j.keys[kid]
	stale := now.Sub(j.fetched) > jwksMaxAge
	switch {
	case ok && (!stale || j.inflight != nil || now.Sub(j.tried) < jwksMinFetch):
		j.mu.Unlock()
		return k, nil
	case j.inflight != nil:
		done := j.inflight
		j.mu.Unlock()
		<-done // the fetch is bounded by jwksTimeout
		return j.heldAfterFetch(kid, now)
	case now.Sub(j.tried) < jwksMinFetch:
		defer j.mu.Unlock()
		k, err := j.heldLocked(kid)
		if errors.Is(err, errUnknownKey) {
			err = j.notYetLocked(now)
		}
		return k, err
	}
	j.tried, j.inflight = now, make(chan struct{})
	j.mu.Unlock()
	j.refresh(ctx, now)
	return j.heldAfterFetch(kid, now)
}

// heldAfterFetch is the held key kid once a fetch has ended: a kid the
// new set does not hold is refused, but when the fetch failed the kid
// was not checked against the tenant's current set, so it is retried
// later like one that comes before a fetch is allowed.
func (j *jwks) heldAfterFetch(kid string, now time.Time) (*rsa.PublicKey, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	k, err := j.heldLocked(kid)
	if errors.Is(err, errUnknownKey) && j.failed {
		err = j.notYetLocked(now)
	}
	return k, err
}

// notYetLocked is keyNotYetError with the time until the next fetch is
// allowed; j.mu is held.
func (j *jwks) notYetLocked(now time.Time) error {
	return &keyNotYetError{After: jwksMinFetch - now.Sub(j.tried)}
}

// refresh fetches the set and ends the fetch under way, even if the fetch
// panics: the tokens waiting for it must not wait forever.
func (j *jwks) refresh(ctx context.Context, now time.Time) {
	var keys map[string]*rsa.PublicKey
	defer func() {
		j.mu.Lock()
		defer j.mu.Unlock()
		if keys != nil {
			j.keys, j.fetched = keys, now
		}
		j.failed = keys == nil
		close(j.inflight)
		j.inflight = nil
	}()
	keys, err := j.fetch(ctx)
	if err != nil {
		keys = nil
		j.log.Warn("fetching the Entra signing keys failed; keeping the ones held", "url", j.url, "err", err)
	}
}

// heldLocked is the held key kid, or why there is none; j.mu is held.
func (j *jwks) heldLocked(kid string) (*rsa.PublicKey, error) {
	if k, ok := j.keys[kid]; ok {
		return k, nil
	}
	if len(j.keys) == 0 {
		return nil, errNoKeys
	}
	return nil, errUnknownKey
}

// fetch reads the key set: bounded in time and size, RSA signing keys of
// at least minRSABits only.
func (j *jwks) fetch(ctx context.Context) (map[string]*rsa.PublicKey, error) {
	ctx, cancel := context.WithTimeout(ctx, jwksTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := j.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxJWKSBody {
		return nil, fmt.Errorf("key set larger than %d bytes", maxJWKSBody)
	}
	return parseJWKS(body)
}

// parseJWKS keeps the RSA signing keys of a key set (RFC 7517); go-jose
// checks each key's fields (and an x5c certificate against its key). Each
// key is read on its own: a key go-jose cannot read (a key type or curve
// it does not know, as RFC 7517 4.1 allows a set to hold) is skipped, not
// a reason to refuse the tenant's RSA keys beside it.
func parseJWKS(body []byte) (map[string]*rsa.PublicKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("not a JSON Web Key Set: %s", jsonReason(err))
	}
	if len(set.Keys) > maxJWKSKeys {
		return nil, fmt.Errorf("more than %d keys", maxJWKSKeys)
	}
	keys := map[string]*rsa.PublicKey{}
	for _, raw := range set.Keys {
		var k jose.JSONWebKey
		if k.UnmarshalJSON(raw) != nil {
			continue
		}
		pub, ok := k.Key.(*rsa.PublicKey)
		if !ok || k.KeyID == "" || (k.Use != "" && k.Use != "sig") || pub.N.BitLen() < minRSABits {
			continue
		}
		keys[k.KeyID] = pub
	}
	if len(keys) == 0 {
		return nil, errors.New(jwksNoKeysErr)
	}
	return keys, nil
}

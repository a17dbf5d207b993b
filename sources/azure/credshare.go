package azure

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/keysync/keysync/internal/oneline"
	"github.com/keysync/keysync/sources"
)

// credentialHold is how long one failure of the credential stands for
// every account: within it, no account asks the token endpoint again.
// Short enough that the daemon's next shared retry asks afresh.
const credentialHold = 5 * time.Second

// CredentialError is a failure to get a token: the credential's, so every
// account that uses the credential fails the same way.
type CredentialError struct {
	// Err is the credential's own error; nil for a failure handed on.
	Err error
	// failure is Err classified once, when it happened: held failures are
	// handed to many goroutines, and azidentity's errors are not safe to
	// read from more than one (Error reads the response body).
	failure sources.Error
}

func (e *CredentialError) Error() string { return "getting a token: " + e.failure.Error() }

// Unwrap returns the credential's own error.
func (e *CredentialError) Unwrap() error { return e.Err }

// sharedCredential makes one failure of the credential every account's:
// after a failure, token requests for the same scopes fail at once with
// that error for credentialHold, instead of each account asking a token
// endpoint that is down (or a client secret that is wrong) on its own.
type sharedCredential struct {
	inner azcore.TokenCredential
	hold  time.Duration
	now   func() time.Time // time.Now; a test's own clock
	mu    sync.Mutex
	fails map[string]heldFailure
}

type heldFailure struct {
	failure sources.Error
	until   time.Time
}

func shareCredential(c azcore.TokenCredential, hold time.Duration) *sharedCredential {
	if s, ok := c.(*sharedCredential); ok {
		return s
	}
	return &sharedCredential{inner: c, hold: hold, now: time.Now, fails: map[string]heldFailure{}}
}

// GetToken implements azcore.TokenCredential.
func (c *sharedCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	key := strings.Join(opts.Scopes, " ")
	if f, ok := c.held(key); ok {
		f.Err = fmt.Errorf("%w (shared: the credential failed for every account that uses it)", f.Err)
		return azcore.AccessToken{}, &CredentialError{failure: f}
	}
	tok, err := c.inner.GetToken(ctx, opts)
	if err == nil {
		c.mu.Lock()
		delete(c.fails, key)
		c.mu.Unlock()
		return tok, nil
	}
	ce := &CredentialError{Err: err, failure: classifyCredential(err)}
	// keysync stopping is not the credential failing.
	if !errors.Is(ctx.Err(), context.Canceled) {
		c.mu.Lock()
		c.fails[key] = heldFailure{failure: ce.failure, until: c.now().Add(c.hold)}
		c.mu.Unlock()
	}
	return tok, ce
}

// held returns the failure that stands for key, if one does.
func (c *sharedCredential) held(key string) (sources.Error, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.fails[key]
	if !ok || !c.now().Before(f.until) {
		return sources.Error{}, false
	}
	return f.failure, true
}

// credentialFailure is the classified error of a failure to get a token,
// a copy of its own.
func credentialFailure(ce *CredentialError) *sources.Error {
	e := ce.failure
	return &e
}

// classifyCredential classifies a credential's error by its real type,
// once; the result holds only text.
func classifyCredential(err error) sources.Error {
	e := sources.Error{Transient: true, Credential: true, Code: "AuthenticationFailed"}
	var authErr *azidentity.AuthenticationFailedError
	switch {
	case errors.As(err, &authErr):
		e.Transient = transientAuth(authErr)
		// azidentity's message quotes the token endpoint's whole response,
		// which is no place for keysync to copy from: keep the first line.
		msg := strings.TrimSpace(oneline.First(authErr.Error()))
		if authErr.RawResponse != nil {
			msg += " (token endpoint answered " + authErr.RawResponse.Status + ")"
		}
		e.Err = errors.New(msg)
	case isCredentialUnavailable(err):
		e.Code = "CredentialUnavailable"
		e.Transient = false
		e.Err = errors.New(oneline.First(err.Error()))
	case errors.Is(err, context.DeadlineExceeded):
		e.Code = "CredentialTimeout"
		e.Err = errors.New("the token endpoint did not answer in time")
	default:
		e.Err = errors.New(oneline.First(err.Error()))
	}
	return e
}

func transientAuth(e *azidentity.AuthenticationFailedError) bool {
	if e.RawResponse == nil {
		return true
	}
	s := e.RawResponse.StatusCode
	return s == http.StatusRequestTimeout || s == http.StatusTooManyRequests || s >= 500
}

// azidentityPkg is the import path of azidentity, whose credential-
// unavailable error type is unexported.
var azidentityPkg = reflect.TypeFor[azidentity.AuthenticationFailedError]().PkgPath()

// isCredentialUnavailable spots azidentity's credentialUnavailableError (no
// credential of the configured kind exists here) and the exported
// AuthenticationRequiredError that embeds it, by type, not by method set:
// azcore's own errors carry the same NonRetriable marker.
func isCredentialUnavailable(err error) bool {
	var req *azidentity.AuthenticationRequiredError
	if errors.As(err, &req) {
		return true
	}
	for _, e := range chain(err) {
		t := reflect.TypeOf(e)
		if t.Kind() == reflect.Pointer && t.Elem().PkgPath() == azidentityPkg && t.Elem().Name() == "credentialUnavailableError" {
			return true
		}
	}
	return false
}

// chain lists err and every error it wraps, depth first, at most 64.
func chain(err error) []error {
	var out []error
	stack := []error{err}
	for len(stack) > 0 && len(out) < 64 {
		e := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if e == nil {
			continue
		}
		out = append(out, e)
		switch u := e.(type) { //nolint:errorlint // walks the error tree by hand, every branch of it
		case interface{ Unwrap() error }:
			stack = append(stack, u.Unwrap())
		case interface{ Unwrap() []error }:
			stack = append(stack, u.Unwrap()...)
		}
	}
	return out
}

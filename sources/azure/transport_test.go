package azure

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/keysync/keysync/config"
)

// TestBoundedBody: up to the limit reads whole; one byte more is an
// error, never a silent cut.
func TestBoundedBody(t *testing.T) {
	tests := []struct {
		name string
		size int
		big  bool
	}{
		{"empty", 0, false},
		{"small", 10, false},
		{"exactly the limit", 64, false},
		{"one past", 65, true},
		{"far past", 1 << 20, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &boundedBody{rc: io.NopCloser(strings.NewReader(strings.Repeat("x", tt.size))), left: 64, limit: 64}
			got, err := io.ReadAll(b)
			var big *BodyTooLargeError
			if errors.As(err, &big) != tt.big {
				t.Fatalf("err = %v, want too large: %t", err, tt.big)
			}
			if !tt.big && (err != nil || len(got) != tt.size) {
				t.Fatalf("read %d bytes, err %v", len(got), err)
			}
			if len(got) > 64 {
				t.Fatalf("read %d bytes past the limit", len(got))
			}
		})
	}
}

// TestGuardedTransportRefusesRedirects: every 3xx becomes a RedirectError
// and the target is never asked, whatever client the caller passed.
func TestGuardedTransportRefusesRedirects(t *testing.T) {
	var reached atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached.Add(1) }))
	defer target.Close()
	for _, status := range []int{301, 302, 303, 307, 308} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, strings.Replace(target.URL, "//", "//user:leak@", 1)+"/x?token=leak", status)
			}))
			defer src.Close()
			for _, next := range []policy.Transporter{nil, &http.Client{}} {
				req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, src.URL, nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Authorization", "Bearer secret")
				resp, err := newGuardedTransport(next, 1, time.Minute).Do(req)
				if resp != nil {
					resp.Body.Close()
				}
				var re *RedirectError
				if !errors.As(err, &re) || re.Status != status || strings.Contains(err.Error(), "leak") {
					t.Fatalf("err = %v, want a RedirectError %d without the query", err, status)
				}
			}
		})
	}
	if n := reached.Load(); n != 0 {
		t.Fatalf("the redirect target was reached %d times", n)
	}
}

// TestTransportErrorClassifiesByType: azcore's body-download error has the
// same NonRetriable marker as azidentity's credential-unavailable error;
// only the credential's own error is CredentialUnavailable.
func TestTransportErrorClassifiesByType(t *testing.T) {
	markedEOF := nonRetriable{io.ErrUnexpectedEOF}
	tests := []struct {
		name      string
		err       error
		code      string
		transient bool
		cred      bool
	}{
		{"cut body with NonRetriable marker", markedEOF, "Transport", true, false},
		{"credential unavailable", credErr(azidentity.NewCredentialUnavailableError("no identity")), "CredentialUnavailable", false, true},
		{"token endpoint down", credErr(&azidentity.AuthenticationFailedError{}), "AuthenticationFailed", true, true},
		{"token endpoint 401", credErr(&azidentity.AuthenticationFailedError{RawResponse: &http.Response{StatusCode: http.StatusUnauthorized, Status: "401 Unauthorized"}}), "AuthenticationFailed", false, true},
		{"token timeout", credErr(context.DeadlineExceeded), "CredentialTimeout", true, true},
		{"redirect", &RedirectError{Status: 307, Location: `"http://x"`}, "Redirect", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := transportError(context.Background(), tt.err)
			if e.Code != tt.code || e.Transient != tt.transient || e.Credential != tt.cred {
				t.Fatalf("got %s transient=%t credential=%t, want %s %t %t", e.Code, e.Transient, e.Credential, tt.code, tt.transient, tt.cred)
			}
		})
	}
}

// credErr is err as the shared credential hands it on.
func credErr(err error) *CredentialError {
	return &CredentialError{Err: err, failure: classifyCredential(err)}
}

type nonRetriable struct{ error }

func (nonRetriable) NonRetriable() {}

// countingCredential fails every call and counts them.
type countingCredential struct{ calls atomic.Int32 }

func (c *countingCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.calls.Add(1)
	return azcore.AccessToken{}, &azidentity.AuthenticationFailedError{}
}

// TestSharedCredentialFailure: one failure stands for every caller of the
// same scopes for the hold, and no longer. The hold runs on the test's
// clock, so that no call falls outside it however slowly they run.
func TestSharedCredentialFailure(t *testing.T) {
	inner := &countingCredential{}
	const hold = time.Minute
	c := shareCredential(inner, hold)
	now := time.Now()
	c.now = func() time.Time { return now }
	arm := policy.TokenRequestOptions{Scopes: []string{"arm/.default"}}
	for range 100 {
		_, err := c.GetToken(context.Background(), arm)
		var ce *CredentialError
		if !errors.As(err, &ce) {
			t.Fatalf("err = %v, want a CredentialError", err)
		}
	}
	if n := inner.calls.Load(); n != 1 {
		t.Fatalf("100 calls asked the credential %d times, want 1", n)
	}
	_, _ = c.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"vault/.default"}})
	if n := inner.calls.Load(); n != 2 {
		t.Fatalf("another scope asked %d times in all, want 2", n)
	}
	now = now.Add(hold - time.Nanosecond)
	_, _ = c.GetToken(context.Background(), arm)
	if n := inner.calls.Load(); n != 2 {
		t.Fatalf("at the hold's last moment: %d calls, want 2", n)
	}
	now = now.Add(time.Nanosecond)
	_, _ = c.GetToken(context.Background(), arm)
	if n := inner.calls.Load(); n != 3 {
		t.Fatalf("after the hold: %d calls, want 3", n)
	}
	if shareCredential(c, time.Hour) != c {
		t.Error("a shared credential was wrapped twice")
	}
}

// bodyCredential fails with an azidentity error that reads its response
// body when printed, as the managed-identity credential's does.
type bodyCredential struct{}

func (bodyCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	resp := &http.Response{StatusCode: http.StatusInternalServerError, Status: "500 Internal Server Error", Body: io.NopCloser(strings.NewReader(`{"message":"down"}`)),
		Request: &http.Request{Method: http.MethodGet, URL: &url.URL{Scheme: "https", Host: "identity"}}}
	return azcore.AccessToken{}, &azidentity.AuthenticationFailedError{RawResponse: resp}
}

// TestSharedCredentialFailureIsSafeToShare: many accounts print the one
// held failure at once (run under -race).
func TestSharedCredentialFailureIsSafeToShare(t *testing.T) {
	c := shareCredential(bodyCredential{}, time.Minute)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			_, err := c.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"arm"}})
			e := transportError(context.Background(), err)
			if !strings.Contains(e.Error(), "500") || !e.Transient {
				t.Errorf("%v", e)
			}
		})
	}
	wg.Wait()
}

// TestHandshakeBoundIsTheTimeout: the keep-alive client's TLS handshakes
// are bounded by the request's own timeout ([azure] timeout, 30 s by
// default), not by the default transport's 10 s.
func TestHandshakeBoundIsTheTimeout(t *testing.T) {
	for _, tt := range []struct {
		set  time.Duration
		want time.Duration
	}{{0, defaultTimeout}, {90 * time.Second, 90 * time.Second}} {
		o, err := clientOptions(Options{Azure: config.Azure{Timeout: config.Duration{Duration: tt.set}}})
		if err != nil {
			t.Fatal(err)
		}
		c, _ := o.Transport.(*guardedTransport).next.(*http.Client)
		if got := c.Transport.(*http.Transport).TLSHandshakeTimeout; got != tt.want {
			t.Errorf("timeout %v: handshake bound %v, want %v", tt.set, got, tt.want)
		}
	}
}

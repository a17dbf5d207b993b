package azure

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/keysync/keysync/internal/oneline"
)

// guardedTransport is the bottom of every pipeline keysync builds, ARM's and
// the credential's: it refuses redirects and bounds every response body
// before azcore, MSAL or keysync reads a byte of it. It has to be the
// transport, not a policy: azcore's body-download policy sits below every
// policy a client may add and reads error bodies whole.
type guardedTransport struct {
	next  policy.Transporter
	limit int64
}

// newGuardedTransport wraps next (an *http.Client gets its redirects
// switched off; nil means a fresh keep-alive client of conns connections
// whose TLS handshakes may take up to timeout, the bound of one request;
// any other Transporter must not follow redirects itself).
func newGuardedTransport(next policy.Transporter, conns int, timeout time.Duration) *guardedTransport {
	switch c := next.(type) {
	case nil:
		next = keepAliveClient(max(conns, 2), timeout)
	case *http.Client:
		cp := *c
		cp.CheckRedirect = refuseRedirect
		next = &cp
	}
	return &guardedTransport{next: next, limit: maxBodyBytes}
}

// refuseRedirect hands a 3xx back instead of following it: a redirect
// would carry the Authorization header, ARM's bearer token, wherever the
// server points, https or not.
func refuseRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Do sends req; a 3xx answer becomes a *RedirectError, any other answer
// gets a bounded body.
func (g *guardedTransport) Do(req *http.Request) (*http.Response, error) {
	resp, err := g.next.Do(req)
	if err != nil {
		return resp, err
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		_ = resp.Body.Close()
		return nil, &RedirectError{Host: req.URL.Host, Status: resp.StatusCode, Location: describeLocation(resp.Header.Get("Location"))}
	}
	limit := g.limit
	if n, ok := req.Context().Value(bodyLimitKey{}).(int64); ok && n > 0 {
		limit = n
	}
	resp.Body = &boundedBody{rc: resp.Body, left: limit, limit: limit}
	return resp, nil
}

// bodyLimitKey carries a request's own body bound in its context: a keys
// answer is small, a page of Resource Graph rows is not.
type bodyLimitKey struct{}

// withBodyLimit bounds the bodies of requests made with ctx to n bytes.
func withBodyLimit(ctx context.Context, n int64) context.Context {
	return context.WithValue(ctx, bodyLimitKey{}, n)
}

// RedirectError is a 3xx answer, which keysync never follows.
type RedirectError struct {
	// Host is the server that answered, Location where it pointed.
	Host     string
	Status   int
	Location string
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("%s answered a redirect (%d) to %s; keysync does not follow redirects", oneline.Clean(e.Host), e.Status, e.Location)
}

// describeLocation names a redirect's target for a message: cleaned,
// bounded, and without user info, query or fragment, which are the
// server's and may be long or secret.
func describeLocation(loc string) string {
	if loc == "" {
		return "no Location"
	}
	if i := strings.IndexAny(loc, "?#"); i >= 0 {
		loc = loc[:i]
	}
	if u, err := url.Parse(loc); err == nil && u.User != nil {
		u.User = nil
		loc = u.String()
	}
	if len(loc) > 200 {
		loc = loc[:200] + "…"
	}
	return fmt.Sprintf("%q", oneline.Clean(loc))
}

// BodyTooLargeError is a response body past keysync's bound.
type BodyTooLargeError struct{ Limit int64 }

func (e *BodyTooLargeError) Error() string {
	return fmt.Sprintf("response body larger than %d bytes", e.Limit)
}

// boundedBody reads at most limit bytes and then fails, rather than
// truncating silently: a cut body must never parse as a short, valid one.
type boundedBody struct {
	rc    io.ReadCloser
	left  int64
	limit int64
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, b.probe()
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

// probe reads one byte past the limit: EOF means the body fitted exactly.
func (b *boundedBody) probe() error {
	var one [1]byte
	for {
		n, err := b.rc.Read(one[:])
		switch {
		case n > 0:
			return &BodyTooLargeError{Limit: b.limit}
		case err != nil:
			return err
		}
	}
}

func (b *boundedBody) Close() error { return b.rc.Close() }

// keepAliveClient keeps n idle connections per host, so that n syncs in
// flight reuse their TLS connections instead of redialling. It never
// follows a redirect. A TLS handshake may take up to handshake: the
// request's own bound ([azure] timeout) is the one that counts, not the
// default transport's hidden 10 s, which a busy machine exceeded (the
// managed-identity token request failed with "TLS handshake timeout"
// beside a CPU hog).
func keepAliveClient(n int, handshake time.Duration) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSHandshakeTimeout = handshake
	tr.MaxIdleConns = max(n, 100)
	tr.MaxIdleConnsPerHost = n
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr, CheckRedirect: refuseRedirect}
}

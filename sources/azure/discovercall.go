package azure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/keysync/keysync/sources"
)

// nextLink checks a page's nextLink before it is followed: it must be on
// a host the guard sends ARM's token to (hostGuard.check: ARM's host, its
// port written out or not, or a regional sub-host of it), under the path
// listed, or a hostile answer could send ARM's bearer token elsewhere.
func (s *Source) nextLink(link, prefix string) (string, error) {
	if link == "" {
		return "", nil
	}
	bad := func(why string) (string, error) {
		return "", &sources.Error{StatusCode: http.StatusOK, Code: "MalformedAnswer", Err: fmt.Errorf("nextLink %s: %s", describeLocation(link), why)}
	}
	if len(link) > 8192 {
		return bad("longer than 8192 bytes")
	}
	u, err := url.Parse(link)
	base, berr := url.Parse(s.client.Endpoint())
	if err != nil || berr != nil {
		return bad("not a URL")
	}
	if s.guard.check(u) != nil {
		return bad("not on ARM's endpoint " + base.Host)
	}
	if !strings.HasPrefix(strings.ToLower(u.EscapedPath()), strings.ToLower(strings.TrimRight(base.EscapedPath(), "/")+prefix)) {
		return bad("not under " + prefix)
	}
	return u.String(), nil
}

// A throttled discovery request (429: Resource Graph's quota, or ARM's
// read limits) is tried again after the wait its answer asks for
// (Retry-After, else x-ms-user-quota-resets-after, else throttleWait:
// Resource Graph's quota window is 5 seconds,
// learn.microsoft.com/azure/governance/resource-graph/concepts/guidance-for-throttled-requests),
// at most maxThrottleTries times in all and maxQuotaWait of waiting, so
// that one throttled group does not discard a whole discovery. A request
// still throttled fails it, as any failure does: nothing is removed.
const (
	maxThrottleTries = 3
	throttleWait     = 5 * time.Second
)

// discoveryCall sends one discovery request through the pipeline and
// decodes its answer into out, classified like a keys call. version, when
// set, is added as api-version (a nextLink carries its own). It honours
// Resource Graph's quota: when none is left, it waits for the reset,
// under ctx and not the request's timeout, which the wait may outlast;
// a throttled request is tried again, bounded (maxThrottleTries).
func (s *Source) discoveryCall(ctx context.Context, method, u, version string, body, out any) error {
	var waited time.Duration
	for try := 1; ; try++ {
		err := s.discoveryTry(ctx, method, u, version, body, out)
		wait, throttled := throttledWait(err)
		if !throttled || try >= maxThrottleTries || waited+wait > maxQuotaWait {
			return err
		}
		if err := pause(ctx, wait); err != nil {
			return err
		}
		waited += wait
	}
}

// throttledWait says whether err is a 429, and how long to wait before
// trying again.
func throttledWait(err error) (time.Duration, bool) {
	var e *sources.Error
	if !errors.As(err, &e) || e.StatusCode != http.StatusTooManyRequests {
		return 0, false
	}
	if e.RetryAfter > 0 {
		return e.RetryAfter, true
	}
	return throttleWait, true
}

// discoveryTry sends the request once.
func (s *Source) discoveryTry(ctx context.Context, method, u, version string, body, out any) error {
	wait := ctx
	ctx, cancel := context.WithTimeout(withBodyLimit(ctx, pageBodyLimit), s.timeout)
	defer cancel()
	req, err := runtime.NewRequest(ctx, method, u)
	if err == nil && body != nil {
		err = runtime.MarshalAsJSON(req, body)
	}
	if err != nil {
		return &sources.Error{Err: fmt.Errorf("building request: %w", err)}
	}
	if version != "" {
		q := req.Raw().URL.Query()
		q.Set("api-version", version)
		req.Raw().URL.RawQuery = q.Encode()
	}
	req.Raw().Header.Set("Accept", "application/json")
	runtime.SkipBodyDownload(req)
	return s.decodeDiscovery(ctx, wait, req, out)
}

func (s *Source) decodeDiscovery(ctx, wait context.Context, req *policy.Request, out any) error {
	resp, err := s.client.Pipeline().Do(req)
	var unread *unreadResponse
	if errors.As(err, &unread) {
		resp = unread.resp
	}
	if resp != nil {
		defer resp.Body.Close()
	}
	switch {
	case unread != nil:
		return readError(resp, unread.err)
	case err != nil:
		return transportError(ctx, err)
	}
	if resp.StatusCode != http.StatusOK {
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return readError(resp, err)
		}
		e := responseError(resp, b, nil, sources.TransientStatus(resp.StatusCode))
		if e.RetryAfter == 0 {
			e.RetryAfter = quotaReset(resp.Header)
		}
		return e
	}
	// A page is decoded as it arrives, never held whole as bytes beside
	// its rows; the transport still bounds it.
	if err := decodeAll(resp.Body, out); err != nil {
		var big *BodyTooLargeError
		if errors.As(err, &big) {
			return readError(resp, err)
		}
		return responseError(resp, nil, fmt.Errorf("decoding answer: %w", err), !isSyntax(err))
	}
	if hr, ok := out.(headerReader); ok {
		hr.readHeaders(resp.Header)
	}
	return waitQuota(wait, resp.Header)
}

// headerReader is an answer that reads its response's headers too
// (Resource Graph's x-ms-tenant-subscription-limit-hit).
type headerReader interface{ readHeaders(http.Header) }

// decodeAll decodes one JSON value from r and refuses anything after it.
func decodeAll(r io.Reader, out any) error {
	dec := json.NewDecoder(r)
	if err := dec.Decode(out); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errTrailing
	}
	return nil
}

// errTrailing: more follows the answer's JSON value.
var errTrailing = errors.New("data after the JSON answer")

// isSyntax reports whether err is the answer's fault (malformed JSON)
// rather than the connection's (a body cut short is worth a retry).
func isSyntax(err error) bool {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	return errors.As(err, &syn) || errors.As(err, &typ) || errors.Is(err, errTrailing)
}

// waitQuota waits for Resource Graph's quota to reset when the answer says
// none is left (x-ms-user-quota-remaining: 0), so that the next page is
// not throttled.
func waitQuota(ctx context.Context, h http.Header) error {
	if h.Get("x-ms-user-quota-remaining") != "0" {
		return nil
	}
	return pause(ctx, quotaReset(h))
}

// pause waits d, or until ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return &sources.Error{Err: ctx.Err(), Code: "Cancelled"}
	}
}

// quotaReset reads x-ms-user-quota-resets-after (hh:mm:ss), bounded; 0
// when absent or malformed.
func quotaReset(h http.Header) time.Duration {
	v := h.Get("x-ms-user-quota-resets-after")
	var hh, mm, ss int
	if n, err := fmt.Sscanf(v, "%2d:%2d:%2d", &hh, &mm, &ss); err != nil || n != 3 || len(v) != 8 || mm > 59 || ss > 59 || hh < 0 || mm < 0 || ss < 0 {
		return 0
	}
	return min(time.Duration(hh)*time.Hour+time.Duration(mm)*time.Minute+time.Duration(ss)*time.Second, maxQuotaWait)
}

package azure

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/keysync/keysync/secret"
	"github.com/keysync/keysync/sources"
)

// Bounds on a long-running regenerate (Cosmos DB, SignalR): at most
// maxPolls status reads, waiting what each answer's Retry-After asks
// within [minPollWait, maxPollWait] (defaultPollWait when it asks
// nothing), all within lroRequests request timeouts (10 minutes at the
// default 30 s).
const (
	maxPolls        = 60
	minPollWait     = 50 * time.Millisecond
	maxPollWait     = 30 * time.Second
	defaultPollWait = 5 * time.Second
	lroRequests     = 20
)

// RegenerateTimeout is the longest a Regenerate lasts at request timeout
// timeout: its request, lroRequests timeouts of polling, and the keys
// read after. The runner bounds each regenerate by it, and a record of
// one holds the account's rotation back for twice as long.
func RegenerateTimeout(timeout time.Duration) time.Duration {
	return (lroRequests + 2) * timeout
}

// Regenerate regenerates a's key, named by its answer field ("secondary",
// "secondaryMasterKey"), with the type's regenerate action, and returns
// the keys after it: the action's own answer, or, for a long-running one,
// listKeys once the operation has succeeded. Every failure is a
// *sources.Error; a long-running operation that outlives its bounds is a
// transient one (it may still succeed).
func (s *Source) Regenerate(ctx context.Context, a sources.Account, key string) (secret.Fields, error) {
	t := a.Spec()
	name, ok := t.RegenerateName(key)
	if !ok {
		return nil, &sources.Error{Code: "UnknownKey", Err: fmt.Errorf("%s has no key %q to regenerate", t.Provider, key)}
	}
	if err := s.pacer.wait(ctx, a.SubscriptionID); err != nil {
		return nil, &sources.Error{Err: err, Code: "Cancelled"}
	}
	rctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := s.regenerateRequest(rctx, a, name)
	if err != nil {
		s.pacer.done(a.SubscriptionID, nil)
		return nil, &sources.Error{Err: err}
	}
	if !t.Rotation.Async {
		keys, err := s.do(rctx, req, a)
		return keys, answered(err)
	}
	resp, err := s.start(rctx, req, a)
	if err != nil {
		return nil, err
	}
	if err := s.await(ctx, resp, a); err != nil {
		return nil, err
	}
	keys, err := s.Fetch(ctx, a)
	if err != nil {
		// The operation succeeded: the key has changed.
		return nil, unsettled(err)
	}
	return keys, nil
}

// answered marks transient a regenerate ARM answered 200 whose keys could
// not be read: the key has changed, and the next sync completes the
// rotation.
func answered(err error) error {
	var se *sources.Error
	if errors.As(err, &se) && se.StatusCode == http.StatusOK {
		se.Transient = true
	}
	return err
}

// regenerateRequest is the POST that regenerates the key the action calls
// name: in the path after the action (Search), else in the body.
func (s *Source) regenerateRequest(ctx context.Context, a sources.Account, name string) (*policy.Request, error) {
	t := a.Spec()
	u := runtime.JoinPaths(s.client.Endpoint(), a.ResourceID(), t.Regenerate)
	if t.Rotation.InPath {
		u = runtime.JoinPaths(u, url.PathEscape(name))
	}
	req, err := runtime.NewRequest(ctx, http.MethodPost, u)
	if err == nil && !t.Rotation.InPath {
		err = runtime.MarshalAsJSON(req, map[string]string{t.Rotation.BodyKey: name})
	}
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	s.setAPIVersion(req, a)
	req.Raw().Header.Set("Accept", "application/json")
	runtime.SkipBodyDownload(req)
	return req, nil
}

// start sends a long-running regenerate: 200 (done) or 202 (accepted) is
// its answer, anything else a classified failure.
func (s *Source) start(ctx context.Context, req *policy.Request, a sources.Account) (*http.Response, error) {
	resp, err := s.client.Pipeline().Do(req)
	var unread *unreadResponse
	if errors.As(err, &unread) {
		resp = unread.resp
	}
	s.pacer.done(a.SubscriptionID, resp)
	switch {
	case unread != nil:
		defer resp.Body.Close()
		return nil, readError(resp, unread.err)
	case err != nil:
		return nil, transportError(ctx, err)
	case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusAccepted:
		return resp, nil
	}
	defer resp.Body.Close()
	body, err := readBounded(resp.Body)
	if err != nil {
		return nil, readError(resp, err)
	}
	return nil, responseError(resp, body, nil, sources.TransientStatus(resp.StatusCode))
}

// await polls a long-running operation to its end with azcore's poller,
// within maxPolls reads and lroRequests request timeouts. The polling
// URLs must be ARM's own (its host or a regional sub-host of it): the
// bearer token goes wherever they point. ARM has accepted the regenerate:
// only the operation's own failure says the key stays; any other failure
// is transient (unsettled), so that the rotation record stays.
func (s *Source) await(ctx context.Context, resp *http.Response, a sources.Account) error {
	if err := checkPollingURLs(resp.Header, s.client.Endpoint()); err != nil {
		_ = resp.Body.Close()
		return unsettled(&sources.Error{StatusCode: resp.StatusCode, Code: "ForeignPollingURL", Err: err})
	}
	wait := pollWait(resp.Header)
	poller, err := runtime.NewPoller(resp, s.client.Pipeline(), &runtime.NewPollerOptions[struct{}]{FinalStateVia: runtime.FinalStateViaAzureAsyncOp})
	if err != nil {
		return unsettled(operationError(ctx, err))
	}
	ctx, cancel := context.WithTimeout(ctx, lroRequests*s.timeout)
	defer cancel()
	for polls := 0; !poller.Done(); polls++ {
		if polls == maxPolls {
			return &sources.Error{Transient: true, Code: "OperationNotFinished", Err: fmt.Errorf("the regenerate operation was still running after %d status reads; the next sync completes the rotation if it succeeds", maxPolls)}
		}
		if wait, err = s.pollOnce(ctx, poller, wait, a); err != nil {
			return unsettled(err)
		}
	}
	if _, err := poller.Result(ctx); err != nil {
		e := operationError(ctx, err)
		if e.StatusCode != http.StatusOK {
			// Not the operation's failure: a final read's.
			return unsettled(e)
		}
		return e
	}
	return nil
}

// unsettled marks the failure to follow an accepted regenerate transient:
// the key may change all the same, and the next sync completes the
// rotation if it does.
func unsettled(err error) error {
	var se *sources.Error
	if errors.As(err, &se) {
		se.Transient = true
	}
	return err
}

// pollOnce waits, then reads the operation's status once, paced as every
// ARM request is; it returns the wait before the next read.
func (s *Source) pollOnce(ctx context.Context, poller *runtime.Poller[struct{}], wait time.Duration, a sources.Account) (time.Duration, error) {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return 0, &sources.Error{Transient: true, Code: "OperationNotFinished", Err: fmt.Errorf("waiting for the regenerate operation: %w", ctx.Err())}
	case <-t.C:
	}
	if err := s.pacer.wait(ctx, a.SubscriptionID); err != nil {
		return 0, &sources.Error{Err: err, Code: "Cancelled"}
	}
	pctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	resp, err := poller.Poll(pctx)
	s.pacer.done(a.SubscriptionID, resp)
	if resp != nil {
		// azcore has read the body already; Result reads its copy.
		_ = resp.Body.Close()
	}
	if err != nil {
		return 0, operationError(pctx, err)
	}
	// A location poller takes each answer's Location as its next URL.
	if err := checkPollingURLs(resp.Header, s.client.Endpoint()); err != nil {
		return 0, &sources.Error{StatusCode: resp.StatusCode, Code: "ForeignPollingURL", Err: err}
	}
	return pollWait(resp.Header), nil
}

// pollWait is the wait an answer asks before the next status read, within
// bounds.
func pollWait(h http.Header) time.Duration {
	if h.Get("Retry-After") == "" {
		return defaultPollWait
	}
	return min(max(retryAfter(h, time.Now()), minPollWait), maxPollWait)
}

// checkPollingURLs refuses polling URLs that are not https on ARM's host
// or a sub-host of it (Cosmos DB answers a regional one, such as
// centraluseuap.management.azure.com).
func checkPollingURLs(h http.Header, endpoint string) error {
	ep, err := url.Parse(endpoint)
	if err != nil {
		return fmt.Errorf("endpoint: %w", err)
	}
	for _, name := range []string{"Azure-AsyncOperation", "Location", "Operation-Location"} {
		v := h.Get(name)
		if v == "" {
			continue
		}
		u, err := url.Parse(v)
		if err != nil || u.Scheme != "https" || (!strings.EqualFold(u.Host, ep.Host) && !strings.HasSuffix(strings.ToLower(u.Host), "."+strings.ToLower(ep.Host))) {
			return fmt.Errorf("the answer's %s header points away from ARM (%s); not polling it with ARM's token", name, describeLocation(v))
		}
	}
	return nil
}

// operationError classifies a poller's failure: an operation that failed
// (its status answer's CloudError, not transient), a status read answered
// with an error status (classified by it), or a transport failure.
func operationError(ctx context.Context, err error) *sources.Error {
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.RawResponse == nil {
		return transportError(ctx, err)
	}
	status := re.RawResponse.StatusCode
	body, _ := runtime.Payload(re.RawResponse)
	e := responseError(re.RawResponse, body, nil, status != http.StatusOK && sources.TransientStatus(status))
	if status == http.StatusOK {
		e.Message = "the regenerate operation failed: " + e.Message
	}
	return e
}

package azure

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/keysync/keysync/secret"
	"github.com/keysync/keysync/sources"
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
	status, h, err := s.start(rctx, req, a)
	if err != nil {
		return nil, err
	}
	if err := s.await(ctx, status, h, a); err != nil {
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

// start sends a long-running regenerate and returns its answer's status,
// 200 (done) or 202 (accepted), and headers; any other answer is a
// classified failure.
func (s *Source) start(ctx context.Context, req *policy.Request, a sources.Account) (int, http.Header, error) {
	var status int
	var h http.Header
	err := s.exchange(ctx, req, a.SubscriptionID, func(resp *http.Response, body []byte) error {
		status, h = resp.StatusCode, resp.Header
		if status == http.StatusOK || status == http.StatusAccepted {
			return nil
		}
		return responseError(resp, body, nil, sources.TransientStatus(status))
	})
	return status, h, err
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

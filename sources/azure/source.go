// Package azure is the key source for Azure Resource Manager: for each type
// in sources.Types (Batch, Storage, Cosmos DB, Redis, and the others) it
// calls the type's keys action through azcore's ARM pipeline and returns the
// keys, or a classified sources.Error; it also regenerates one key at a
// time (regenerate.go), polling the long-running ones.
package azure

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/keysync/keysync/secret"
	"github.com/keysync/keysync/sources"
)

// Source reads keys from ARM.
type Source struct {
	cred       azcore.TokenCredential
	pacer      *pacer
	client     *arm.Client
	guard      *hostGuard
	apiVersion string
	timeout    time.Duration
}

// New builds a Source and its credential.
func New(o Options) (*Source, error) {
	cc, err := clientOptions(o)
	if err != nil {
		return nil, err
	}
	cred, err := NewCredential(o.Credential, o.ClientID, cc)
	if err != nil {
		return nil, fmt.Errorf("azure credential %q: %w", o.Credential, err)
	}
	// Every account's token, and Vault's Azure login, come from this one.
	cred = shareCredential(cred, credentialHold)
	guard, err := newHostGuard(cc.Cloud.Services[cloud.ResourceManager].Endpoint)
	if err != nil {
		return nil, err
	}
	// The guard is ARM's alone: the credential's pipeline, built from cc
	// above, sends its token requests to other hosts.
	ac := cc
	ac.PerRetryPolicies = append([]policy.Policy{guard}, cc.PerRetryPolicies...)
	client, err := arm.NewClient(moduleName, userAgentVersion(o.Version), cred, &arm.ClientOptions{
		ClientOptions: ac,
		// keysync only reads keys; registering resource providers is a write
		// that needs other rights and is not its business.
		DisableRPRegistration: true,
	})
	if err != nil {
		return nil, fmt.Errorf("azure client: %w", err)
	}
	s := &Source{cred: cred, pacer: newPacer(o.RequestsPerSecond, o.Burst), client: client, guard: guard,
		apiVersion: o.APIVersion, timeout: o.Timeout.Duration}
	if s.timeout <= 0 {
		s.timeout = defaultTimeout
	}
	return s, nil
}

// Credential is the azidentity credential the source reads keys with; Vault's
// Azure auth method logs in with the same identity.
func (s *Source) Credential() azcore.TokenCredential { return s.cred }

// observePolicy reports each ARM response's status to observe.
func observePolicy(observe func(code string)) []policy.Policy {
	if observe == nil {
		return nil
	}
	return []policy.Policy{policyFunc(func(req *policy.Request) (*http.Response, error) {
		resp, err := req.Next()
		if err != nil || resp == nil {
			observe("error")
		} else {
			observe(strconv.Itoa(resp.StatusCode))
		}
		return resp, err
	})}
}

// unreadResponse is an answer whose body azcore failed to read (it reads
// error bodies itself). It carries the response past azcore's bearer-token
// policy, which drops the response of any failed request, so that the
// failure is classified by its status and request id.
type unreadResponse struct {
	resp *http.Response
	err  error
}

func (e *unreadResponse) Error() string { return e.err.Error() }
func (e *unreadResponse) Unwrap() error { return e.err }

func keepResponse(req *policy.Request) (*http.Response, error) {
	resp, err := req.Next()
	if err != nil && resp != nil {
		return nil, &unreadResponse{resp: resp, err: err}
	}
	return resp, err
}

type policyFunc func(*policy.Request) (*http.Response, error)

func (f policyFunc) Do(req *policy.Request) (*http.Response, error) { return f(req) }

// Fetch calls a's keys action (listKeys, or listAdminKeys for Search) and
// returns its keys under the response's own field names. Every failure is
// a *sources.Error.
//
// Pacing waits happen before the request's own timeout starts.
func (s *Source) Fetch(ctx context.Context, a sources.Account) (secret.Fields, error) {
	if err := s.pacer.wait(ctx, a.SubscriptionID); err != nil {
		return nil, &sources.Error{Err: err, Code: "Cancelled"}
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := s.listKeysRequest(ctx, a)
	if err != nil {
		s.pacer.done(a.SubscriptionID, nil)
		return nil, &sources.Error{Err: err}
	}
	return s.do(ctx, req, a)
}

// do sends a keys request and reads its answer, bounded and classified.
func (s *Source) do(ctx context.Context, req *policy.Request, a sources.Account) (secret.Fields, error) {
	var keys secret.Fields
	err := s.exchange(ctx, req, a.SubscriptionID, func(resp *http.Response, body []byte) error {
		var err error
		keys, err = readKeys(resp, body, a)
		return err
	})
	return keys, err
}

// readKeys reads a keys answer: a's keys from a 200, else the failure.
func readKeys(resp *http.Response, body []byte, a sources.Account) (secret.Fields, error) {
	if resp.StatusCode != http.StatusOK {
		return nil, responseError(resp, body, nil, sources.TransientStatus(resp.StatusCode))
	}
	keys, err := parseKeys(body, a)
	if err != nil {
		e := responseError(resp, nil, err, false)
		var shape *sources.KeyShapeError
		if errors.As(err, &shape) {
			e.Code = "MalformedKey"
		}
		return nil, e
	}
	return keys, nil
}

// exchange sends req through ARM's pipeline, tells the pacer of sub how
// it went, reads the answer's body, bounded, and hands both to read
// before the body is closed; a failure to get the whole answer is a
// classified *sources.Error.
func (s *Source) exchange(ctx context.Context, req *policy.Request, sub string, read func(*http.Response, []byte) error) error {
	resp, err := s.client.Pipeline().Do(req)
	var unread *unreadResponse
	if errors.As(err, &unread) {
		resp = unread.resp
	}
	s.pacer.done(sub, resp)
	if resp != nil {
		defer resp.Body.Close()
	}
	switch {
	case unread != nil:
		return readError(resp, unread.err)
	case err != nil:
		return transportError(ctx, err)
	}
	body, err := readBounded(resp.Body)
	if err != nil {
		return readError(resp, err)
	}
	return read(resp, body)
}

func (s *Source) listKeysRequest(ctx context.Context, a sources.Account) (*policy.Request, error) {
	u := runtime.JoinPaths(s.client.Endpoint(), a.ResourceID(), a.Spec().Action)
	req, err := runtime.NewRequest(ctx, http.MethodPost, u)
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	s.setAPIVersion(req, a)
	req.Raw().Header.Set("Accept", "application/json")
	// The body is read here, bounded, instead of whole by the pipeline.
	runtime.SkipBodyDownload(req)
	return req, nil
}

// setAPIVersion puts the api-version keysync speaks for a in req's query.
func (s *Source) setAPIVersion(req *policy.Request, a sources.Account) {
	q := req.Raw().URL.Query()
	q.Set("api-version", sources.APIVersionFor(a, s.apiVersion))
	req.Raw().URL.RawQuery = q.Encode()
}

// readError classifies an answer whose body could not be read: one past
// the bound is the answer's fault, classified by its status (a 200 that
// large is not ARM); one cut short is the connection's, and transient.
func readError(resp *http.Response, err error) *sources.Error {
	var big *BodyTooLargeError
	if errors.As(err, &big) {
		return responseError(resp, nil, big, resp.StatusCode != http.StatusOK && sources.TransientStatus(resp.StatusCode))
	}
	return responseError(resp, nil, fmt.Errorf("reading response: %w", err), true)
}

func readBounded(r io.Reader) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r, maxBodyBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxBodyBytes {
		return nil, fmt.Errorf("response body larger than %d bytes", maxBodyBytes)
	}
	return body, nil
}

// responseError builds the classified error for a response. body, when not
// nil, is parsed as a CloudError.
func responseError(resp *http.Response, body []byte, cause error, transient bool) *sources.Error {
	e := &sources.Error{
		StatusCode: resp.StatusCode,
		RequestID:  resp.Header.Get("x-ms-request-id"),
		RetryAfter: retryAfter(resp.Header, time.Now()),
		Transient:  transient,
		Err:        cause,
	}
	if body != nil {
		parseCloudError(e, resp.Header.Get("Content-Type"), body)
	}
	return e
}

// transportError classifies a failure to get any response: a token that
// could not be had, a redirect, a request refused for its host (never
// sent, and permanent), a timeout or a reset connection.
func transportError(ctx context.Context, err error) *sources.Error {
	var credErr *CredentialError
	var redirect *RedirectError
	var foreign *ForeignHostError
	switch {
	case errors.As(err, &credErr):
		return credentialFailure(credErr)
	case errors.As(err, &redirect):
		return &sources.Error{Err: redirect, StatusCode: redirect.Status, Code: "Redirect"}
	case errors.As(err, &foreign):
		return &sources.Error{Err: foreign, Code: "ForeignHost"}
	case ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded):
		return &sources.Error{Err: err, Transient: true, Code: "Timeout"}
	}
	return &sources.Error{Err: err, Transient: true, Code: "Transport"}
}

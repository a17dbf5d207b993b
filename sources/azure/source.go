// Package azure is the key source for Azure Resource Manager: it calls the
// Batch account listKeys action through azcore's ARM pipeline and returns
// the keys, or a classified sources.Error.
package azure

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/keysync/keysync/secret"
	"github.com/keysync/keysync/sources"
)

// DefaultAPIVersion is the Batch management API version keysync speaks.
const DefaultAPIVersion = "2024-02-01"

// moduleName and moduleVersion identify keysync in azcore's User-Agent.
const (
	moduleName    = "keysync"
	moduleVersion = "v0.1.0"
)

// CloudNames are the names accepted in [azure] cloud, in the order people
// meet them; Clouds maps each to azcore's configuration.
var CloudNames = []string{"AzurePublic", "AzureChina", "AzureUSGovernment"}

// Clouds maps the names accepted in [azure] cloud to azcore's configurations.
var Clouds = map[string]cloud.Configuration{
	"AzurePublic":       cloud.AzurePublic,
	"AzureChina":        cloud.AzureChina,
	"AzureUSGovernment": cloud.AzureGovernment,
}

// Options configures a Source.
type Options struct {
	// Cloud is a key of Clouds; Endpoint and Audience override its
	// Resource Manager entry.
	Cloud    string
	Endpoint string
	Audience string
	// APIVersion defaults to DefaultAPIVersion.
	APIVersion string
	// Credential and ClientID select the azidentity credential.
	Credential string
	ClientID   string
	// Timeout bounds one request, the token included.
	Timeout time.Duration
	// Transport replaces azcore's HTTP client (tests).
	Transport policy.Transporter
	// Observe, when set, hears the outcome of every ARM request (not the
	// token requests): the HTTP status, or "error" when none came back.
	Observe func(code string)
	// Pacing paces requests per subscription to ARM's write bucket.
	Pacing Pacing
	// Connections is how many idle keep-alive connections to keep to ARM;
	// set it to the concurrency. 0 keeps azcore's default.
	Connections int
}

// Source reads keys from ARM.
type Source struct {
	cred       azcore.TokenCredential
	pacer      *pacer
	client     *arm.Client
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
	return NewWithCredential(o, cred)
}

// NewWithCredential builds a Source around an existing credential.
func NewWithCredential(o Options, cred azcore.TokenCredential) (*Source, error) {
	cc, err := clientOptions(o)
	if err != nil {
		return nil, err
	}
	client, err := arm.NewClient(moduleName, moduleVersion, cred, &arm.ClientOptions{
		ClientOptions: cc,
		// keysync only reads keys; registering resource providers is a write
		// that needs other rights and is not its business.
		DisableRPRegistration: true,
	})
	if err != nil {
		return nil, fmt.Errorf("azure client: %w", err)
	}
	s := &Source{cred: cred, pacer: newPacer(o.Pacing), client: client, apiVersion: o.APIVersion, timeout: o.Timeout}
	if s.apiVersion == "" {
		s.apiVersion = DefaultAPIVersion
	}
	if s.timeout <= 0 {
		s.timeout = 30 * time.Second
	}
	return s, nil
}

// Credential is the azidentity credential the source reads keys with; Vault's
// Azure auth method logs in with the same identity.
func (s *Source) Credential() azcore.TokenCredential { return s.cred }

func clientOptions(o Options) (azcore.ClientOptions, error) {
	name := o.Cloud
	if name == "" {
		name = "AzurePublic"
	}
	base, ok := Clouds[name]
	if !ok {
		return azcore.ClientOptions{}, fmt.Errorf("unknown cloud %q", o.Cloud)
	}
	cfg := cloud.Configuration{ActiveDirectoryAuthorityHost: base.ActiveDirectoryAuthorityHost,
		Services: map[cloud.ServiceName]cloud.ServiceConfiguration{}}
	rm := base.Services[cloud.ResourceManager]
	if o.Endpoint != "" {
		rm.Endpoint = o.Endpoint
	}
	if o.Audience != "" {
		rm.Audience = o.Audience
	}
	cfg.Services[cloud.ResourceManager] = rm
	transport := o.Transport
	if transport == nil && o.Connections > 0 {
		transport = keepAliveClient(o.Connections)
	}
	return azcore.ClientOptions{
		Cloud: cfg,
		// keysync's runner owns every retry, so that Retry-After, backoff and
		// throttling are decided in one place and never stack.
		Retry:     policy.RetryOptions{MaxRetries: -1},
		Transport: transport,
		// Every request carries x-ms-client-request-id, so a failure can be
		// traced in ARM's logs from either side.
		PerCallPolicies:  []policy.Policy{runtime.NewRequestIDPolicy()},
		PerRetryPolicies: observePolicy(o.Observe),
		Logging:          policy.LogOptions{IncludeBody: false},
	}, nil
}

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
	resp, err := s.client.Pipeline().Do(req)
	s.pacer.done(a.SubscriptionID, resp)
	if err != nil {
		return nil, transportError(ctx, err)
	}
	defer resp.Body.Close()
	body, err := readBounded(resp.Body)
	if err != nil {
		return nil, responseError(resp, nil, fmt.Errorf("reading response: %w", err), true)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, responseError(resp, body, nil, sources.TransientStatus(resp.StatusCode))
	}
	keys, err := parseKeys(body, a)
	if err != nil {
		return nil, responseError(resp, nil, err, false)
	}
	return keys, nil
}

// Regenerate regenerates a's key ("primary" or "secondary") with the
// regenerateKeys action and returns the keys after it. Only types whose
// answer has primary and secondary (Batch) support it.
func (s *Source) Regenerate(ctx context.Context, a sources.Account, key string) (secret.Fields, error) {
	if err := s.pacer.wait(ctx, a.SubscriptionID); err != nil {
		return nil, &sources.Error{Err: err, Code: "Cancelled"}
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := runtime.NewRequest(ctx, http.MethodPost, runtime.JoinPaths(s.client.Endpoint(), a.ResourceID(), "regenerateKeys"))
	if err == nil {
		err = runtime.MarshalAsJSON(req, map[string]string{"keyName": strings.ToUpper(key[:1]) + key[1:]})
	}
	if err != nil {
		s.pacer.done(a.SubscriptionID, nil)
		return nil, &sources.Error{Err: fmt.Errorf("building request: %w", err)}
	}
	q := req.Raw().URL.Query()
	q.Set("api-version", s.APIVersion(a))
	req.Raw().URL.RawQuery = q.Encode()
	runtime.SkipBodyDownload(req)
	return s.do(ctx, req, a)
}

func (s *Source) listKeysRequest(ctx context.Context, a sources.Account) (*policy.Request, error) {
	u := runtime.JoinPaths(s.client.Endpoint(), a.ResourceID(), a.Kind().Action)
	req, err := runtime.NewRequest(ctx, http.MethodPost, u)
	if err != nil {
		return nil, fmt.Errorf("building request: %w", err)
	}
	q := req.Raw().URL.Query()
	q.Set("api-version", s.APIVersion(a))
	req.Raw().URL.RawQuery = q.Encode()
	req.Raw().Header.Set("Accept", "application/json")
	// The body is read here, bounded, instead of whole by the pipeline.
	runtime.SkipBodyDownload(req)
	return req, nil
}

// APIVersion is the api-version keysync speaks for a: the account's own,
// else for Batch the configured one, else the type's pinned version.
func (s *Source) APIVersion(a sources.Account) string {
	switch {
	case a.APIVersion != "":
		return a.APIVersion
	case a.Kind().Provider == sources.Types[sources.DefaultType].Provider:
		return s.apiVersion
	}
	return a.Kind().APIVersion
}

// keepAliveClient keeps n idle connections per host, so that n syncs in
// flight reuse their TLS connections instead of redialling.
func keepAliveClient(n int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = max(n, 100)
	tr.MaxIdleConnsPerHost = n
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr}
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
		Temporary:  transient,
		Err:        cause,
	}
	if body != nil {
		parseCloudError(e, resp.Header.Get("Content-Type"), body)
	}
	return e
}

// transportError classifies a failure to get any response: a timeout, a
// reset connection or a token that could not be had.
func transportError(ctx context.Context, err error) *sources.Error {
	e := &sources.Error{Err: err, Temporary: true, Code: "Transport"}
	var authErr *azidentity.AuthenticationFailedError
	switch {
	case errors.As(err, &authErr):
		e.Code = "AuthenticationFailed"
		e.Temporary = transientAuth(authErr)
		// azidentity's message quotes the token endpoint's whole response,
		// which is no place for keysync to copy from: keep the first line.
		msg := strings.TrimSpace(firstLine(authErr.Error()))
		if authErr.RawResponse != nil {
			msg += " (token endpoint answered " + authErr.RawResponse.Status + ")"
		}
		e.Err = errors.New(msg)
	case isCredentialUnavailable(err):
		e.Code = "CredentialUnavailable"
		e.Temporary = false
		e.Err = errors.New(firstLine(err.Error()))
	case ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded):
		e.Code = "Timeout"
	}
	return e
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return clean(s)
}

// retryAfter reads Retry-After as seconds or an HTTP date, and ARM's
// millisecond variants, which azcore's retry policy also honours.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if ms := h.Get("retry-after-ms"); ms != "" {
		if n, err := strconv.Atoi(ms); err == nil && n > 0 {
			return time.Duration(n) * time.Millisecond
		}
	}
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

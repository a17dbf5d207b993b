package azure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/keysync/keysync/sources"
)

// Bounds on a long-running regenerate (Cosmos DB, SignalR): at most
// maxPolls status reads, waiting what each answer's Retry-After asks
// within [minPollWait, maxPollWait] (defaultPollWait when it asks
// nothing), all within lroRequests request timeouts (10 minutes at the
// default 30 s). A polling URL longer than maxPollURL is refused (ARM
// asks clients to accept 4 KB).
const (
	maxPolls        = 60
	minPollWait     = 50 * time.Millisecond
	maxPollWait     = 30 * time.Second
	defaultPollWait = 5 * time.Second
	lroRequests     = 20
	maxPollURL      = 8192
)

// monitor is where keysync reads how a long-running regenerate goes, as
// ARM documents it
// (learn.microsoft.com/azure/azure-resource-manager/management/async-operations):
// the Azure-AsyncOperation URL when the answer has one, a status resource
// whose "status" ends Succeeded, Failed or Canceled (with "error" for the
// last two); else the Location URL, which answers 202 while the operation
// runs and 200 or 204 once it is done. Operation-Location is
// Azure-AsyncOperation's newer name, a status resource of the same form
// (microsoft/api-guidelines, azure/Guidelines.md, "Long running
// operations"). keysync never makes the final GET azcore's pollers make
// (to a status's resourceLocation, or to Location): it reads the keys
// after with listKeys.
type monitor struct {
	url    *url.URL
	status bool
}

// monitorOf picks the URL an accepted answer's headers name.
func (s *Source) monitorOf(h http.Header) (monitor, error) {
	for _, name := range []string{"Azure-AsyncOperation", "Operation-Location", "Location"} {
		if v := h.Get(name); v != "" {
			u, err := s.pollURL(name, v)
			return monitor{url: u, status: name != "Location"}, err
		}
	}
	return monitor{}, &sources.Error{StatusCode: http.StatusAccepted, Code: "MalformedAnswer",
		Err: errors.New("the accepted regenerate names no URL to follow it by")}
}

// pollURL checks a polling URL before anything is sent there: absolute,
// bounded, and ARM's (the pipeline's guard refuses it too, but only after
// azcore's bearer policy has had its say).
func (s *Source) pollURL(header, v string) (*url.URL, error) {
	u, err := url.Parse(v)
	if len(v) > maxPollURL || err != nil || !u.IsAbs() {
		return nil, &sources.Error{Code: "MalformedAnswer", Err: fmt.Errorf("the answer's %s header is not a URL to poll (%s)", header, describeLocation(v))}
	}
	if err := s.guard.check(u); err != nil {
		return nil, &sources.Error{Code: "ForeignHost", Err: fmt.Errorf("the answer's %s header: %w", header, err)}
	}
	return u, nil
}

// await follows a long-running regenerate that answered status with
// headers h (202: accepted) to its end, within
// maxPolls reads and lroRequests request timeouts. ARM has accepted the
// regenerate: only the operation's own failure says the key stays; any
// other failure is transient (unsettled), so that the rotation record
// stays.
func (s *Source) await(ctx context.Context, status int, h http.Header, a sources.Account) error {
	if status == http.StatusOK {
		return nil // done at once
	}
	m, err := s.monitorOf(h)
	if err != nil {
		return unsettled(err)
	}
	wait := pollWait(h)
	ctx, cancel := context.WithTimeout(ctx, lroRequests*s.timeout)
	defer cancel()
	for range maxPolls {
		done, next, err := s.pollOnce(ctx, &m, wait, a)
		if err != nil || done {
			return err
		}
		wait = next
	}
	return &sources.Error{Transient: true, Code: "OperationNotFinished", Err: fmt.Errorf("the regenerate operation was still running after %d status reads; the next sync completes the rotation if it succeeds", maxPolls)}
}

// pollOnce waits, then reads the operation's status once, paced as every
// ARM request is; it returns whether the operation is done and the wait
// before the next read.
func (s *Source) pollOnce(ctx context.Context, m *monitor, wait time.Duration, a sources.Account) (bool, time.Duration, error) {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false, 0, &sources.Error{Transient: true, Code: "OperationNotFinished", Err: fmt.Errorf("waiting for the regenerate operation: %w", ctx.Err())}
	case <-t.C:
	}
	if err := s.pacer.wait(ctx, a.SubscriptionID); err != nil {
		return false, 0, unsettled(&sources.Error{Err: err, Code: "Cancelled"})
	}
	pctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := runtime.NewRequest(pctx, http.MethodGet, m.url.String())
	if err != nil {
		return false, 0, unsettled(&sources.Error{Err: fmt.Errorf("building request: %w", err)})
	}
	req.Raw().Header.Set("Accept", "application/json")
	runtime.SkipBodyDownload(req)
	var done bool
	var next time.Duration
	var answer error // the answer's verdict: the operation's own failure stays permanent
	err = s.exchange(pctx, req, a.SubscriptionID, func(resp *http.Response, body []byte) error {
		if m.status {
			done, answer = readStatus(resp, body)
		} else {
			done, answer = s.readLocation(m, resp, body)
		}
		next = pollWait(resp.Header)
		return nil
	})
	if err != nil {
		return false, 0, unsettled(err)
	}
	return done, next, answer
}

// readStatus reads a status resource: done once Succeeded; Failed or
// Canceled is the operation's own failure, permanent, with its error; any
// other status is still running. An answer without a status is unsettled.
func readStatus(resp *http.Response, body []byte) (bool, error) {
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted {
		return false, unsettled(responseError(resp, body, nil, true))
	}
	var st struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(body, &st); err != nil || st.Status == "" {
		e := responseError(resp, nil, errors.New("the operation's status answer has no status"), true)
		e.Code = "MalformedAnswer"
		return false, e
	}
	for _, end := range []string{"Failed", "Canceled"} {
		if strings.EqualFold(st.Status, end) {
			e := responseError(resp, body, nil, false)
			e.Message = "the regenerate operation ended " + end + ": " + e.Message
			return false, e
		}
	}
	return strings.EqualFold(st.Status, "Succeeded"), nil
}

// readLocation reads a Location URL's answer: 202 while the operation
// runs (its own Location, when it moves, is followed, checked as the
// first was), 200 or 204 once done. Anything else cannot tell the
// operation's failure from a failed read: it is unsettled.
func (s *Source) readLocation(m *monitor, resp *http.Response, body []byte) (bool, error) {
	switch resp.StatusCode {
	case http.StatusOK, http.StatusNoContent:
		return true, nil
	case http.StatusAccepted:
		if v := resp.Header.Get("Location"); v != "" {
			u, err := s.pollURL("Location", v)
			if err != nil {
				return false, unsettled(err)
			}
			m.url = u
		}
		return false, nil
	}
	return false, unsettled(responseError(resp, body, nil, true))
}

// pollWait is the wait an answer asks before the next status read, within
// bounds.
func pollWait(h http.Header) time.Duration {
	if h.Get("Retry-After") == "" {
		return defaultPollWait
	}
	return min(max(retryAfter(h, time.Now()), minPollWait), maxPollWait)
}

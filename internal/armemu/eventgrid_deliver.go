package armemu

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Bounds of one subscription's delivery, so that a flood of events or a
// dead endpoint costs the emulator bounded memory and never blocks ARM.
const (
	egQueueLen   = 10000 // events waiting for their first attempt
	egMaxRetries = 64    // batches waiting for a retry
	egMaxRecords = 20000 // delivery attempts remembered
	egMaxDropped = 20000 // dropped event ids remembered
	egMaxAnswer  = 64 << 10
)

// retrySchedule is Event Grid's: "10 seconds, 30 seconds, 1 minute, 5
// minutes, 10 minutes, 30 minutes, 1 hour, 3 hours, 6 hours, every 12 hours
// up to 24 hours" (delivery-and-retry), in units of its first step, so that
// RetryBase scales it. Event Grid's "small randomization" is left out, so
// that tests can time it.
var retrySchedule = []int64{1, 3, 6, 30, 60, 180, 360, 1080, 2160, 4320}

// minRetry is the least wait after a failed attempt, in units of the
// schedule's first step (10 s), by the status answered: "408 Request
// Timeout: Retry after 2 minutes or more", "503 Service Unavailable:
// Retry after 30 seconds or more", "All others: Retry after 10 seconds or
// more" (delivery-and-retry, "Failure codes"). Event Grid does not say it
// reads Retry-After, so the emulator does not.
func minRetry(status int) int64 {
	switch status {
	case http.StatusRequestTimeout:
		return 12
	case http.StatusServiceUnavailable:
		return 3
	}
	return 1
}

// notRetried are the statuses Event Grid drops (or dead-letters) a webhook
// delivery on at once: "Webhook: 400 (Bad request), 413 (Request entity is
// too large), 401 (Unauthorized), 403 (Forbidden)" (delivery-and-retry).
var notRetried = []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusRequestEntityTooLarge}

// delivered: "Event Grid considers only the following HTTP response codes
// as successful deliveries: 200 OK, 201 Created, 202 Accepted, 203
// Non-Authoritative Information, 204 No Content" (delivery-and-retry).
func delivered(status int) bool { return status >= 200 && status <= 204 }

// egEvent is one event encoded in the subscription's schema.
type egEvent struct {
	id   string
	body []byte
	at   time.Time // published
}

type egBatch struct {
	events  []egEvent
	attempt int
	due     time.Time
}

func (b *egBatch) ids() []string {
	ids := make([]string, len(b.events))
	for i, ev := range b.events {
		ids[i] = ev.id
	}
	return ids
}

// egSub is a live subscription: its queue and the goroutine delivering it.
type egSub struct {
	cfg    EventSubscription
	client *http.Client
	queue  chan egEvent
	ctx    context.Context
	cancel context.CancelFunc
	rec    *egRecord
	held   *egEvent // taken from the queue, too big for the last batch

	tokMu  sync.Mutex
	tok    string
	tokExp time.Time
	tokKid string
	minGap time.Duration // from WebHook-Allowed-Rate
	last   time.Time
}

func (e *Emulator) newSub(s EventSubscription) *egSub {
	ctx, cancel := context.WithCancel(context.Background())
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.RootCAs, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: 4, ResponseHeaderTimeout: s.Timeout}
	return &egSub{cfg: s, queue: make(chan egEvent, egQueueLen), ctx: ctx, cancel: cancel, rec: &egRecord{},
		client: &http.Client{Transport: tr, Timeout: s.Timeout,
			// Event Grid does not follow redirects to another endpoint.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (s *egSub) stop() { s.cancel() }

// run delivers until stopped: new events in batches, failed batches again
// when their retry is due, at most egMaxRetries waiting at once (the
// queue fills behind them).
func (s *egSub) run(e *Emulator) {
	defer s.client.CloseIdleConnections()
	var retries []*egBatch
	for s.ctx.Err() == nil {
		if s.held != nil {
			first := *s.held
			s.held = nil
			retries = s.attempt(e, s.collect(first), retries)
			continue
		}
		queue := s.queue
		if len(retries) >= egMaxRetries {
			queue = nil
		}
		next, wait := nextDue(retries)
		select {
		case <-s.ctx.Done():
		case ev := <-queue:
			retries = s.attempt(e, s.collect(ev), retries)
		case <-wait:
			retries = slices.DeleteFunc(retries, func(b *egBatch) bool { return b == next })
			if time.Since(next.events[0].at) > s.cfg.EventTTL {
				s.rec.drop(next.ids())
				continue
			}
			retries = s.attempt(e, next, retries)
		}
	}
}

// nextDue is the batch due first and a channel that fires when it is due;
// nil and a nil channel when none waits.
func nextDue(retries []*egBatch) (*egBatch, <-chan time.Time) {
	if len(retries) == 0 {
		return nil, nil
	}
	next := slices.MinFunc(retries, func(a, b *egBatch) int { return a.due.Compare(b.due) })
	return next, time.After(time.Until(next.due))
}

// collect makes a batch of first and what else is queued now, up to
// MaxEventsPerBatch and PreferredBatchSizeKB: Event Grid "doesn't delay
// events to create a batch" (delivery-and-retry).
func (s *egSub) collect(first egEvent) *egBatch {
	b := &egBatch{events: []egEvent{first}}
	size, limit := len(first.body)+2, s.cfg.PreferredBatchSizeKB<<10 // the array's brackets
	for len(b.events) < s.cfg.MaxEventsPerBatch {
		select {
		case ev := <-s.queue:
			if limit > 0 && size+1+len(ev.body) > limit { // a comma and the event
				s.held = &ev
				return b
			}
			b.events = append(b.events, ev)
			size += 1 + len(ev.body)
		default:
			return b
		}
	}
	return b
}

// attempt delivers b once, records it, and returns retries with b added
// when it is to be tried again.
func (s *egSub) attempt(e *Emulator, b *egBatch, retries []*egBatch) []*egBatch {
	b.attempt++
	status, err := s.post(e, b)
	d := Delivery{EventIDs: b.ids(), Status: status, At: time.Now(), Attempt: b.attempt}
	if err != nil {
		d.Err = err.Error()
	}
	switch {
	case err == nil && delivered(status):
	case s.ctx.Err() != nil:
		d.Err = "stopped: the subscription was deleted or the emulator closed"
	case slices.Contains(notRetried, status):
		d.Err = fmt.Sprintf("dropped: Event Grid does not retry status %d", status)
		s.rec.drop(d.EventIDs)
	case b.attempt >= s.cfg.MaxDeliveryAttempts:
		d.Err = fmt.Sprintf("dropped after %d attempts: %s", b.attempt, cmpOrString(d.Err, "status "+strconv.Itoa(status)))
		s.rec.drop(d.EventIDs)
	default:
		step := max(retrySchedule[min(b.attempt-1, len(retrySchedule)-1)], minRetry(status))
		b.due = time.Now().Add(time.Duration(step) * s.cfg.RetryBase)
		retries = append(retries, b)
	}
	s.rec.add(d)
	return retries
}

func cmpOrString(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// post sends b as one request and returns the status answered.
func (s *egSub) post(e *Emulator, b *egBatch) (int, error) {
	if !s.pace() {
		return 0, errors.New("stopped")
	}
	body, contentType := s.encodeBatch(b)
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.target(), bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", contentType)
	s.setHeaders(e, req.Header, "Notification", b.attempt-1)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("no answer: %w", unwrapURLError(err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, egMaxAnswer))
	return resp.StatusCode, nil
}

// pace keeps to the rate the endpoint allowed in WebHook-Allowed-Rate; it
// reports false when the subscription stopped meanwhile.
func (s *egSub) pace() bool {
	if s.minGap <= 0 {
		return true
	}
	wait := time.Until(s.last.Add(s.minGap))
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-s.ctx.Done():
			return false
		}
	}
	s.last = time.Now()
	return true
}

// encodeBatch is the request body and its content type: the Event Grid
// schema "is always an array" ("The subscriber receives an array with a
// single event", delivery-and-retry); CloudEvents is one structured event,
// or an array in the batched mode (cloud-event-schema: "content-type":
// "application/cloudevents+json; charset=utf-8").
func (s *egSub) encodeBatch(b *egBatch) ([]byte, string) {
	if s.cfg.Schema == SchemaCloudEvents && !s.cfg.Batched {
		return b.events[0].body, "application/cloudevents+json; charset=utf-8"
	}
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i, ev := range b.events {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(ev.body)
	}
	buf.WriteByte(']')
	if s.cfg.Schema == SchemaCloudEvents {
		return buf.Bytes(), "application/cloudevents-batch+json; charset=utf-8"
	}
	return buf.Bytes(), "application/json; charset=utf-8"
}

// target is the endpoint with the subscription's query parameters added.
func (s *egSub) target() string {
	u, _ := url.Parse(s.cfg.Endpoint) // checked by normalise
	q := u.Query()
	for k, v := range s.cfg.Query {
		q.Set(k, v)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// setHeaders puts on a request what every Event Grid request carries
// (includes/event-grid-message-headers): aeg-event-type, aeg-subscription-name,
// aeg-delivery-count (the attempts before this one: "0" on the first, as
// Microsoft's secure-webhook test script sends), aeg-metadata-version
// ("1", or for CloudEvents the spec version), aeg-data-version (Event Grid
// schema only; "it doesn't apply" to CloudEvents), the static delivery
// headers, and the Entra token.
func (s *egSub) setHeaders(e *Emulator, h http.Header, eventType string, before int) {
	h.Set("aeg-event-type", eventType)
	h.Set("aeg-subscription-name", strings.ToUpper(s.cfg.Name))
	h.Set("aeg-delivery-count", strconv.Itoa(before))
	if s.cfg.Schema == SchemaCloudEvents {
		h.Set("aeg-metadata-version", "1.0")
		// http-webhook.md 4.1.2: after the handshake the sender "MUST use
		// the WebHook-Request-Origin request header for each delivery".
		h.Set("WebHook-Request-Origin", eventGridOrigin)
	} else {
		h.Set("aeg-metadata-version", "1")
		h.Set("aeg-data-version", resourceDataVersion)
	}
	for k, v := range s.cfg.Headers {
		h.Set(k, v)
	}
	if s.cfg.EntraAudience != "" {
		h.Set("Authorization", "Bearer "+s.token(e))
	}
}

// token is a cached Entra token of the subscription's tenant for its
// audience, renewed five minutes before it expires, and as soon as the
// tenant signs with a new key: Event Grid would meet the new key at its
// next renewal, and the emulator makes that the first delivery after the
// rotation, the soonest a webhook can meet a key it has not fetched.
func (s *egSub) token(e *Emulator) string {
	t, _ := e.tenant(s.cfg.EntraTenant) // Subscribe checked it
	kid := t.signer().kid
	s.tokMu.Lock()
	defer s.tokMu.Unlock()
	if s.tok == "" || time.Until(s.tokExp) < 5*time.Minute || s.tokKid != kid {
		s.tokExp, s.tokKid = time.Now().Add(time.Hour), kid
		s.tok = t.mustSign(t.claims(s.cfg.EntraTokenVersion, s.cfg.EntraAudience, time.Hour))
	}
	return s.tok
}

// unwrapURLError drops net/http's "Post URL:" prefix, which would repeat
// the query and so a shared secret.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// egRecord remembers a subscription's delivery attempts and dropped events.
type egRecord struct {
	mu      sync.Mutex
	list    []Delivery
	dropped []string
}

func (r *egRecord) add(d Delivery) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.list) >= egMaxRecords {
		r.list = slices.Delete(r.list, 0, len(r.list)-egMaxRecords+1)
	}
	r.list = append(r.list, d)
}

func (r *egRecord) drop(ids []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.dropped)+len(ids) > egMaxDropped {
		r.dropped = slices.Delete(r.dropped, 0, min(len(r.dropped), len(r.dropped)+len(ids)-egMaxDropped))
	}
	r.dropped = append(r.dropped, ids...)
}

func (r *egRecord) deliveries() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Delivery, len(r.list))
	for i, d := range r.list {
		d.EventIDs = slices.Clone(d.EventIDs)
		out[i] = d
	}
	return out
}

func (r *egRecord) droppedIDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.dropped)
}

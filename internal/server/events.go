package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/keysync/keysync/sync/scheduler"
)

// Targeter queues a sync of one account; *scheduler.Scheduler is one.
type Targeter interface {
	Target(ref string, since time.Time) (string, scheduler.TargetResult, error)
}

// EventObserver hears each delivery and event the webhook handles; the
// metrics implement it. schema is SchemaEventGrid, SchemaCloudEvents or
// "unknown"; outcome one of eventOutcomes.
type EventObserver interface {
	Event(schema, outcome string)
}

// Outcomes of a delivery (unauthorized, unverifiable, too_large,
// malformed, validation, options, busy, overloaded) and of one event in it
// (the rest).
const (
	outOverloaded   = "overloaded"
	outUnauthorized = "unauthorized"
	outTooLarge     = "too_large"
	outMalformed    = "malformed"
	outValidation   = "validation"
	outOptions      = "options"
	outBusy         = "busy"
	outUnverifiable = "unverifiable"
	outQueued       = "queued"
	outCoalesced    = "coalesced"
	outBackoff      = "backoff"
	outDuplicate    = "duplicate"
	outIrrelevant   = "irrelevant"
	outUnmanaged    = "unmanaged"
)

// EventOutcomes are every outcome label, for /status and the metrics.
var EventOutcomes = [...]string{outUnauthorized, outUnverifiable, outTooLarge, outMalformed, outValidation, outOptions, outBusy,
	outOverloaded, outQueued, outCoalesced, outBackoff, outDuplicate, outIrrelevant, outUnmanaged}

// EventsHandler is the Event Grid webhook: POST delivers events in the
// Event Grid or CloudEvents schema, OPTIONS is CloudEvents' abuse
// protection handshake. Every request is authenticated before its body is
// read; an event that says an account's keys changed queues a sync of that
// account (Targeter), anything else is answered 200 and dropped, so that
// Event Grid does not retry it.
type EventsHandler struct {
	Path    string
	Targets Targeter
	// Secret, when set, must be in SecretHeader or SecretQuery;
	// NextSecret, when set, is accepted as well, while the subscription
	// changes over to it (docs/events.md, "Changing the shared secret").
	Secret       *Token
	NextSecret   *Token
	SecretHeader string
	SecretQuery  string
	// Entra, when set, requires an Entra bearer token.
	Entra *EntraOptions
	// MaxBody bounds a body in bytes, MaxEvents a batch, Dedupe the
	// event ids remembered, MaxInFlight the requests handled at once
	// (one more is answered 503, which Event Grid retries): a flood on
	// the webhook, or tokens waiting for Entra's keys, then holds at most
	// that many of the server's connections.
	MaxBody     int64
	MaxEvents   int
	Dedupe      int
	MaxInFlight int
	Logger      *slog.Logger
	Observer    EventObserver

	entra    *entraVerifier
	seen     *recentIDs
	inflight slots
	counts   [len(EventOutcomes)]atomic.Int64 // by EventOutcomes' index
}

// defaultInFlight is MaxInFlight's default: deliveries take milliseconds,
// and a few at once is what Event Grid sends one endpoint.
const defaultInFlight = 16

// init prepares the handler; Server.Handler calls it.
func (h *EventsHandler) init() {
	if h.Entra != nil {
		h.entra = newEntraVerifier(*h.Entra, h.Logger)
	}
	h.seen = newRecentIDs(max(h.Dedupe, 1))
	h.MaxBody = cmpOr(h.MaxBody, 1<<20)
	h.MaxEvents = cmpOr(h.MaxEvents, 5000)
	h.inflight = make(slots, cmpOr(h.MaxInFlight, defaultInFlight))
}

func (h *EventsHandler) route(mux *http.ServeMux) {
	h.init()
	mux.HandleFunc("POST "+h.Path, h.bounded(h.post))
	mux.HandleFunc("OPTIONS "+h.Path, h.bounded(h.options))
}

// bounded runs next when fewer than MaxInFlight requests are handled, and
// otherwise answers 503 with Retry-After at once, before authenticating:
// checking a token may wait for Entra's keys.
func (h *EventsHandler) bounded(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !h.inflight.enter() {
			h.count(schemaUnknown, outOverloaded)
			overloaded(w, busyRetryAfter, "too many deliveries at once; retry later")
			return
		}
		defer h.inflight.leave()
		next(w, r)
	}
}

// Counts is how many deliveries and events ended in each outcome since
// the start, for GET /status.
func (h *EventsHandler) Counts() map[string]int64 {
	out := make(map[string]int64, len(EventOutcomes))
	for i, o := range EventOutcomes {
		out[o] = h.counts[i].Load()
	}
	return out
}

func (h *EventsHandler) count(schema, outcome string) {
	for i, o := range EventOutcomes {
		if o == outcome {
			h.counts[i].Add(1)
		}
	}
	if h.Observer != nil {
		h.Observer.Event(schema, outcome)
	}
}

// options answers the CloudEvents abuse-protection handshake
// (github.com/cloudevents/spec/blob/v1.0.2/cloudevents/http-webhook.md#4-abuse-protection,
// learn.microsoft.com/azure/event-grid/cloudevents-schema#endpoint-validation-with-cloudevents-v10):
// the origin asked for is allowed, at a rate of 120 a minute once
// authenticated. Event Grid sends the same credentials as for a delivery.
func (h *EventsHandler) options(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("WebHook-Request-Origin")
	if err := h.authenticate(r); err != nil {
		h.refuse(w, r, schemaUnknown, err)
		return
	}
	if origin == "" || len(origin) > 253 || !printable(origin) {
		h.count(SchemaCloudEvents, outMalformed)
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "WebHook-Request-Origin must name the sender's host"})
		return
	}
	h.count(SchemaCloudEvents, outOptions)
	w.Header().Set("WebHook-Allowed-Origin", origin)
	if r.Header.Get("WebHook-Request-Rate") != "" {
		w.Header().Set("WebHook-Allowed-Rate", "120")
	}
	w.Header().Set("Allow", "POST, OPTIONS")
	w.WriteHeader(http.StatusOK)
}

func printable(s string) bool {
	for i := range len(s) {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// refuse answers 401 to an unauthenticated request, or 503 with
// Retry-After when it cannot be checked now: the tenant's keys or a
// usable secret file are missing, or the token's key is not held and the
// key set may not be fetched again yet. Nothing of it is logged but the
// remote address, at debug: a flood of them must not fill the log.
func (h *EventsHandler) refuse(w http.ResponseWriter, r *http.Request, schema string, err error) {
	if after, ok := retryLater(err); ok {
		h.count(schema, outUnverifiable)
		h.Logger.Debug("event delivery deferred: nothing to check it against yet", "remote", r.RemoteAddr, "err", err)
		w.Header().Set("Retry-After", strconv.Itoa(after))
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": "cannot check this delivery now; retry later"})
		return
	}
	h.count(schema, outUnauthorized)
	h.Logger.Debug("event delivery refused", "remote", r.RemoteAddr, "err", err)
	w.Header().Set("WWW-Authenticate", `Bearer realm="keysync-events"`)
	writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "unauthorized"})
}

// retryLater reports whether err leaves a delivery unchecked rather than
// refused, and the Retry-After in seconds: until the key set may be
// fetched again (at least 1, at most jwksMinFetch), or busyRetryAfter.
func retryLater(err error) (int, bool) {
	var notYet *keyNotYetError
	switch {
	case errors.As(err, &notYet):
		secs := int((notYet.After + time.Second - 1) / time.Second)
		return min(max(secs, 1), int(jwksMinFetch/time.Second)), true
	case errors.Is(err, errNoKeys), errors.Is(err, errNoSecret):
		return busyRetryAfter, true
	}
	return 0, false
}

// post handles a delivery: authenticate, bound, parse, then act on each
// event. Status codes follow what Event Grid retries
// (learn.microsoft.com/azure/event-grid/delivery-and-retry#retry-schedule):
// 400 and 413 are not retried, 503 is.
func (h *EventsHandler) post(w http.ResponseWriter, r *http.Request) {
	schema, batch, serr := deliverySchema(r.Header.Get("Content-Type"))
	if err := h.authenticate(r); err != nil {
		h.refuse(w, r, schema, err)
		return
	}
	if serr != nil {
		h.bad(w, schema, http.StatusBadRequest, outMalformed, serr)
		return
	}
	body, err := h.readBody(w, r)
	if err != nil {
		h.bad(w, schema, http.StatusRequestEntityTooLarge, outTooLarge, err)
		return
	}
	events, err := parseEvents(body, schema, batch, h.MaxEvents)
	switch {
	case errors.Is(err, errTooMany):
		h.bad(w, schema, http.StatusRequestEntityTooLarge, outTooLarge, err)
		return
	case err != nil:
		h.bad(w, schema, http.StatusBadRequest, outMalformed, err)
		return
	}
	if schema == SchemaEventGrid && events[0].isValidation() {
		h.validate(w, events[0])
		return
	}
	h.deliver(w, schema, events)
}

// readBody reads at most MaxBody bytes; a longer body is an error, and
// one whose Content-Length says so is refused before it is read.
func (h *EventsHandler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > h.MaxBody {
		return nil, fmt.Errorf("body of %d bytes is over the %d-byte limit", r.ContentLength, h.MaxBody)
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.MaxBody))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, fmt.Errorf("body over the %d-byte limit", h.MaxBody)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the body: %w", err)
	}
	return b, nil
}

// bad answers a refused delivery with its one-line reason.
func (h *EventsHandler) bad(w http.ResponseWriter, schema string, status int, outcome string, err error) {
	h.count(schema, outcome)
	h.Logger.Debug("event delivery refused", "status", status, "err", err)
	writeJSON(w, status, map[string]any{"error": err.Error()})
}

// validate answers Event Grid's synchronous validation handshake
// (learn.microsoft.com/azure/event-grid/end-point-validation-event-grid-events-schema).
func (h *EventsHandler) validate(w http.ResponseWriter, ev event) {
	code := ev.Data.ValidationCode
	if code == "" || len(code) > 256 || !printable(code) {
		h.bad(w, SchemaEventGrid, http.StatusBadRequest, outMalformed, errors.New("validation event without a usable validationCode"))
		return
	}
	h.count(SchemaEventGrid, outValidation)
	h.Logger.Info("Event Grid subscription validated", "event_id", ev.ID)
	writeJSON(w, http.StatusOK, map[string]any{"validationResponse": code})
}

// busyRetryAfter is the Retry-After, in seconds, of a delivery refused
// because the sync queue is full: time for the queued syncs to start.
const busyRetryAfter = 5

// deliver acts on each event. When the sync queue is full it stops and
// answers 503 with Retry-After: the events not taken yet are not marked
// seen, so Event Grid's retry brings them again.
func (h *EventsHandler) deliver(w http.ResponseWriter, schema string, events []event) {
	for i := range events {
		outcome := h.one(&events[i])
		if outcome == outBusy {
			h.count(schema, outBusy)
			w.Header().Set("Retry-After", strconv.Itoa(busyRetryAfter))
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": "the sync queue is full; retry later", "taken": i})
			return
		}
		h.count(schema, outcome)
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": len(events)})
}

// one acts on one event and returns its outcome.
func (h *EventsHandler) one(ev *event) string {
	id, ok := keyChange(ev)
	if !ok {
		return outIrrelevant
	}
	if h.seen.has(ev.ID) {
		return outDuplicate
	}
	label, res, err := h.Targets.Target(id, ev.Time)
	switch {
	case errors.Is(err, scheduler.ErrTargetQueueFull):
		return outBusy
	case errors.Is(err, scheduler.ErrUnknownAccount):
		h.seen.add(ev.ID)
		return outUnmanaged
	case err != nil:
		return outBusy
	}
	h.seen.add(ev.ID)
	// One info line per sync queued; the events it covers at debug, so
	// a burst for one account is not a burst in the log.
	level, outcome := slog.LevelDebug, outQueued
	switch res {
	case scheduler.TargetCoalesced:
		outcome = outCoalesced
	case scheduler.TargetBackoff:
		outcome = outBackoff
	default:
		level = slog.LevelInfo
	}
	h.Logger.Log(context.Background(), level, "key change event: account queued for sync", "account", label, "result", string(res), "operation", ev.Data.OperationName, "event_id", ev.ID)
	return outcome
}

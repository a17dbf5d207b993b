package armemu

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Event Grid's system topic of an Azure subscription, as the emulator
// publishes it. Sources, cited below by file: the MicrosoftDocs/azure-docs
// articles under articles/event-grid/, published at
// learn.microsoft.com/azure/event-grid/ under the same names:
// event-schema-subscriptions (the events), webhook-event-delivery (the
// validation handshake), delivery-and-retry (retries, batching, timeout),
// includes/event-grid-message-headers (aeg-* headers), delivery-properties
// (static headers), cloud-event-schema (CloudEvents delivery),
// includes/limits (sizes), secure-webhook-delivery (Entra), and the
// CloudEvents webhook spec, github.com/cloudevents/spec
// cloudevents/http-webhook.md (the OPTIONS handshake).

// Delivery schemas of an event subscription.
const (
	SchemaEventGrid   = "EventGridSchema"
	SchemaCloudEvents = "CloudEventSchemaV1_0"
)

// Event types of Azure Resource Manager (event-schema-subscriptions).
const (
	EventResourceActionSuccess = "Microsoft.Resources.ResourceActionSuccess"
	EventResourceWriteSuccess  = "Microsoft.Resources.ResourceWriteSuccess"
	EventResourceDeleteSuccess = "Microsoft.Resources.ResourceDeleteSuccess"
	// EventSubscriptionValidation is the handshake event of the Event Grid
	// schema (webhook-event-delivery).
	EventSubscriptionValidation = "Microsoft.EventGrid.SubscriptionValidationEvent"
)

// Limits of Event Grid (includes/limits, delivery-and-retry,
// delivery-properties).
const (
	// MaxEventSize: "Event size: 1 MB. This limit can't be increased."
	MaxEventSize = 1 << 20
	// MaxEventsPerBatchLimit: max events per batch "must be between 1 and 5,000".
	MaxEventsPerBatchLimit = 5000
	// MaxDeliveryAttemptsLimit: "an integer between 1 and 30. The default value is 30."
	MaxDeliveryAttemptsLimit = 30
	// DeliveryTimeout: "Event Grid waits 30 seconds for a response after delivering a message."
	DeliveryTimeout = 30 * time.Second
	// MaxStaticHeaders: "You can set up to 10 headers"; each value up to 4,096 bytes.
	MaxStaticHeaders   = 10
	maxHeaderValueSize = 4096
	// maxEventTTL: "an integer between 1 and 1440. The default value is
	// 1440 minutes".
	maxEventTTL = 1440 * time.Minute
)

// EventSubscription is an Event Grid event subscription on the emulator's
// subscriptions' system topics.
type EventSubscription struct {
	// Name is the subscription's name: 3 to 64 letters, digits and
	// hyphens. Deliveries carry it in aeg-subscription-name in upper case,
	// as Event Grid sends it; compare it case-insensitively.
	Name string
	// Endpoint is the webhook URL: https, or http on a loopback address
	// for tests. The emulator trusts RootCAs (the system's when nil).
	Endpoint string
	RootCAs  *x509.CertPool
	// Schema is SchemaEventGrid (the default) or SchemaCloudEvents.
	Schema string
	// Batched: CloudEvents deliveries use the batched content mode
	// (application/cloudevents-batch+json, a JSON array); otherwise each
	// is one structured event (application/cloudevents+json) and
	// MaxEventsPerBatch is 1. The Event Grid schema is always an array.
	Batched bool
	// MaxEventsPerBatch is 1 to 5,000; 0 means 1, as Event Grid's default.
	MaxEventsPerBatch int
	// PreferredBatchSizeKB is the target ceiling of a batch's size, 1 to
	// 1,024 KB; 0 means no ceiling but MaxEventsPerBatch. A single larger
	// event still goes, alone (delivery-and-retry).
	PreferredBatchSizeKB int
	// Query is added to the Endpoint URL (a shared secret as a query parameter).
	Query map[string]string
	// Headers are static delivery headers (delivery attribute mappings,
	// e.g. a secret header): at most 10, each value at most 4,096 bytes.
	Headers map[string]string
	// EntraAudience, when set, makes every request carry Authorization:
	// Bearer with a token of the emulator's Entra tenant EntraTenant (an
	// id from NewEntraTenant; "" is the first tenant, Azure public's) for
	// this audience (the webhook application's id or URI), of
	// EntraTokenVersion (EntraV1 by default, or EntraV2).
	EntraAudience     string
	EntraTenant       string
	EntraTokenVersion string
	// IncludedOperations is an advanced filter on data.operationName
	// (StringIn, case-insensitive); empty means all.
	IncludedOperations []string
	// IncludedEventTypes filters on the event type; empty means all.
	IncludedEventTypes []string
	// SubjectBeginsWith and SubjectEndsWith are prefix and suffix filters
	// on the subject (the resource id), case-insensitive as
	// isSubjectCaseSensitive's default false makes them; empty matches all
	// (subscription-creation-schema, "filter object").
	SubjectBeginsWith, SubjectEndsWith string
	// MaxDeliveryAttempts is 1 to 30; 0 means Event Grid's default, 30.
	MaxDeliveryAttempts int
	// RetryBase scales Event Grid's retry schedule (10 s, 30 s, 1 min, ...)
	// so that its first step is RetryBase; 0 means Event Grid's own.
	RetryBase time.Duration
	// Timeout is how long one delivery waits for the answer; 0 means
	// Event Grid's 30 s.
	Timeout time.Duration
	// EventTTL is the event time-to-live: a batch older is dropped at its
	// next scheduled retry ("checked ONLY at the next scheduled delivery
	// attempt", delivery-and-retry). 0 means Event Grid's default, 1,440
	// minutes; Azure counts whole minutes from 1, the emulator allows less
	// for tests.
	EventTTL time.Duration
}

// Delivery is one delivery attempt of one batch to a subscription.
type Delivery struct {
	EventIDs []string `json:"eventIds"`
	// Status is the HTTP status answered, 0 when none came (Err says why).
	Status int       `json:"status"`
	At     time.Time `json:"at"`
	// Attempt counts from 1; aeg-delivery-count carried Attempt-1.
	Attempt int `json:"attempt"`
	// Err says why the attempt failed, or what became of the events when
	// they are not retried ("dropped: ...").
	Err string `json:"err,omitempty"`
}

// ResourceEvent is an event of the subscription's system topic.
type ResourceEvent struct {
	// ID "" gives a new random id; the same ID twice is a duplicate delivery.
	ID string
	// EventType "" is EventResourceActionSuccess.
	EventType string
	// Subscription "" is taken from ResourceURI.
	Subscription string
	// ResourceURI is the subject and data.resourceUri: the resource id.
	ResourceURI   string
	OperationName string
	// Status "" is "Succeeded".
	Status string
	// Time zero is now.
	Time time.Time
	// HTTPRequest is data.httpRequest, for events the emulator's ARM
	// raises; nil leaves it out.
	HTTPRequest *EventHTTPRequest
}

// EventHTTPRequest is data.httpRequest of a resource event.
type EventHTTPRequest struct {
	ClientRequestID string `json:"clientRequestId"`
	ClientIPAddress string `json:"clientIpAddress"`
	Method          string `json:"method"`
	URL             string `json:"url"`
}

// eventGrid holds the event subscriptions.
type eventGrid struct {
	mu      sync.Mutex
	subs    map[string]*egSub // by lower-case name
	records map[string]*egRecord
	closed  bool
	wg      sync.WaitGroup
}

func newEventGrid() *eventGrid {
	return &eventGrid{subs: map[string]*egSub{}, records: map[string]*egRecord{}}
}

var subscriptionName = regexp.MustCompile(`^[A-Za-z0-9-]{3,64}$`)

// Subscribe creates (or replaces) an event subscription. It first does the
// schema's validation handshake with the endpoint and, when that fails,
// returns why and subscribes nothing.
func (e *Emulator) Subscribe(ctx context.Context, s EventSubscription) error {
	s, err := normalise(s)
	if err != nil {
		return err
	}
	if e.ln == nil {
		return fmt.Errorf("event subscription %s: the emulator is not started", s.Name)
	}
	if e.eg.isClosed() {
		return fmt.Errorf("event subscription %s: the emulator is closed", s.Name)
	}
	if _, ok := e.tenant(s.EntraTenant); !ok {
		return fmt.Errorf("event subscription %s: no Entra tenant %q", s.Name, s.EntraTenant)
	}
	sub := e.newSub(s)
	if err := sub.handshake(ctx, e); err != nil {
		sub.stop()
		sub.client.CloseIdleConnections()
		return fmt.Errorf("event subscription %s: validation handshake with %s: %w", s.Name, redactURL(s.Endpoint), err)
	}
	eg := e.eg
	eg.mu.Lock()
	defer eg.mu.Unlock()
	if eg.closed {
		sub.stop()
		return fmt.Errorf("event subscription %s: the emulator is closed", s.Name)
	}
	key := strings.ToLower(s.Name)
	if old, ok := eg.subs[key]; ok {
		old.stop()
	}
	eg.subs[key] = sub
	eg.records[key] = sub.rec
	eg.wg.Add(1)
	go func() {
		defer eg.wg.Done()
		sub.run(e)
	}()
	return nil
}

// Unsubscribe deletes an event subscription: nothing more is delivered to
// it. Its Deliveries stay readable.
func (e *Emulator) Unsubscribe(name string) {
	eg := e.eg
	eg.mu.Lock()
	defer eg.mu.Unlock()
	if sub, ok := eg.subs[strings.ToLower(name)]; ok {
		sub.stop()
		delete(eg.subs, strings.ToLower(name))
	}
}

// Deliveries returns every delivery attempt to the subscription so far
// (the latest 20,000), oldest first.
func (e *Emulator) Deliveries(name string) []Delivery {
	e.eg.mu.Lock()
	rec, ok := e.eg.records[strings.ToLower(name)]
	e.eg.mu.Unlock()
	if !ok {
		return nil
	}
	return rec.deliveries()
}

// Dropped returns the ids of the events the subscription will never
// deliver: refused with a status Event Grid does not retry, out of
// attempts, or not queued because its queue was full.
func (e *Emulator) Dropped(name string) []string {
	e.eg.mu.Lock()
	rec, ok := e.eg.records[strings.ToLower(name)]
	e.eg.mu.Unlock()
	if !ok {
		return nil
	}
	return rec.droppedIDs()
}

func (eg *eventGrid) isClosed() bool {
	eg.mu.Lock()
	defer eg.mu.Unlock()
	return eg.closed
}

// closeEventGrid stops every subscription's delivery and waits for it.
func (e *Emulator) closeEventGrid() {
	eg := e.eg
	eg.mu.Lock()
	eg.closed = true
	for k, sub := range eg.subs {
		sub.stop()
		delete(eg.subs, k)
	}
	eg.mu.Unlock()
	eg.wg.Wait()
}

// normalise checks a subscription as Event Grid's API would and fills in
// its defaults.
func normalise(s EventSubscription) (EventSubscription, error) {
	var problems []string
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	if !subscriptionName.MatchString(s.Name) {
		bad("name %q is not 3 to 64 letters, digits and hyphens", s.Name)
	}
	if err := checkEndpoint(s.Endpoint); err != nil {
		bad("%v", err)
	}
	switch s.Schema {
	case "":
		s.Schema = SchemaEventGrid
	case SchemaEventGrid, SchemaCloudEvents:
	default:
		bad("schema %q is not %s or %s", s.Schema, SchemaEventGrid, SchemaCloudEvents)
	}
	s.MaxEventsPerBatch = orDefault(s.MaxEventsPerBatch, 1, MaxEventsPerBatchLimit, "max events per batch", bad)
	s.MaxDeliveryAttempts = orDefault(s.MaxDeliveryAttempts, MaxDeliveryAttemptsLimit, MaxDeliveryAttemptsLimit, "max delivery attempts", bad)
	if s.PreferredBatchSizeKB < 0 || s.PreferredBatchSizeKB > 1024 {
		bad("preferred batch size %d KB is not 1 to 1024", s.PreferredBatchSizeKB)
	}
	if s.Schema == SchemaCloudEvents && !s.Batched {
		s.MaxEventsPerBatch = 1
	}
	if len(s.Headers) > MaxStaticHeaders {
		bad("%d delivery headers, at most %d", len(s.Headers), MaxStaticHeaders)
	}
	for k, v := range s.Headers {
		if len(v) > maxHeaderValueSize {
			bad("delivery header %s is longer than %d bytes", k, maxHeaderValueSize)
		}
	}
	switch s.EntraTokenVersion {
	case "":
		s.EntraTokenVersion = EntraV1
	case EntraV1, EntraV2:
	default:
		bad("entra token version %q is not %s or %s", s.EntraTokenVersion, EntraV1, EntraV2)
	}
	s.RetryBase = cmpOr(s.RetryBase, 10*time.Second)
	s.Timeout = cmpOr(s.Timeout, DeliveryTimeout)
	s.EventTTL = cmpOr(s.EventTTL, maxEventTTL)
	if s.EventTTL > maxEventTTL {
		bad("event time to live %v is longer than 1440 minutes", s.EventTTL)
	}
	if len(problems) > 0 {
		return s, fmt.Errorf("event subscription %q: %s", s.Name, strings.Join(problems, "; "))
	}
	return s, nil
}

func orDefault(v, def, limit int, what string, bad func(string, ...any)) int {
	if v == 0 {
		return def
	}
	if v < 1 || v > limit {
		bad("%s %d is not 1 to %d", what, v, limit)
	}
	return v
}

func cmpOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// checkEndpoint accepts https, and http only to a loopback address.
func checkEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return fmt.Errorf("endpoint is not an absolute URL")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if ip := net.ParseIP(u.Hostname()); (ip != nil && ip.IsLoopback()) || u.Hostname() == "localhost" {
			return nil
		}
		return fmt.Errorf("endpoint %s: http only to a loopback address, https otherwise", redactURL(endpoint))
	}
	return fmt.Errorf("endpoint scheme %q is not https", u.Scheme)
}

// redactURL is the URL without its query, which may hold a secret.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.RawQuery, u.User = "", nil
	return u.String()
}

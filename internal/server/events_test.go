package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/account"
	"github.com/keysync/keysync/sync/scheduler"
)

const (
	testSub    = "00000000-0000-0000-0000-0000000000aa"
	testSecret = "event-grid-shared-secret-0123456789"
)

// eventsEnv is a real scheduler over a Batch account and an Event Hubs
// rule behind an EventsHandler.
type eventsEnv struct {
	t       *testing.T
	syncer  *countingSyncer
	sched   *scheduler.Scheduler
	h       *EventsHandler
	srv     *Server
	handler http.Handler
}

var (
	batchAcct = sources.Account{SubscriptionID: testSub, ResourceGroup: "rg", Name: "batch1"}
	hubAcct   = sources.Account{SubscriptionID: testSub, ResourceGroup: "rg", Name: "hubns1", Type: "eventhubs", Rule: "send"}
)

func newEventsEnv(t *testing.T, configure func(*EventsHandler)) *eventsEnv {
	t.Helper()
	return newEventsEnvTargeting(t, 10*time.Millisecond, 16, configure)
}

// newEventsEnvTargeting is newEventsEnv with the scheduler's targeting
// window and queue.
func newEventsEnvTargeting(t *testing.T, window time.Duration, queue int, configure func(*EventsHandler)) *eventsEnv {
	t.Helper()
	sched, _ := cron.ParseStandard("@every 1h")
	var accts []scheduler.Account
	for _, a := range []sources.Account{batchAcct, hubAcct} {
		accts = append(accts, scheduler.Account{Label: a.Name, Schedule: &scheduler.Schedule{Spec: "@every 1h", Schedule: sched}, Job: account.Job{Account: a, Path: "azure/" + a.Name}})
	}
	e := &eventsEnv{t: t, syncer: &countingSyncer{}}
	e.sched = scheduler.New(scheduler.Options{Concurrency: 4, ShutdownGrace: time.Second, TargetWindow: window, TargetQueue: queue}, e.syncer, accts)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = e.sched.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	e.h = &EventsHandler{Path: "/events/eventgrid", Targets: e.sched, Secret: mustToken(t, testSecret, 0o600),
		SecretHeader: "X-Keysync-Secret", SecretQuery: "code", MaxBody: 64 << 10, MaxEvents: 10, Dedupe: 100, Logger: slog.New(slog.DiscardHandler)}
	if configure != nil {
		configure(e.h)
	}
	e.srv = &Server{Scheduler: e.sched, Logger: slog.New(slog.DiscardHandler), Metrics: http.NotFoundHandler(), Events: e.h,
		Vault: NewVaultProbe(func(context.Context) error { return nil }, time.Hour, slog.New(slog.DiscardHandler))}
	e.handler = e.srv.Handler()
	return e
}

// post delivers body with contentType and the secret in the header.
func (e *eventsEnv) post(contentType, body string, mod ...func(*http.Request)) *httptest.ResponseRecorder {
	e.t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/events/eventgrid", strings.NewReader(body))
	r.Header.Set("Content-Type", contentType)
	r.Header.Set("X-Keysync-Secret", testSecret)
	for _, m := range mod {
		m(r)
	}
	w := httptest.NewRecorder()
	e.handler.ServeHTTP(w, r)
	return w
}

// waitSyncs waits until n syncs ran, then for a later event (a second
// targeted sync of the other account) before checking none more came.
func (e *eventsEnv) waitSyncs(n int64) {
	e.t.Helper()
	deadline := time.Now().Add(time.Minute) // returns when they come; only a test that would wait forever reaches it
	for e.syncer.calls.Load() < n || e.sched.TargetsPending() > 0 {
		if time.Now().After(deadline) {
			e.t.Fatalf("%d syncs, %d targets pending; want %d syncs", e.syncer.calls.Load(), e.sched.TargetsPending(), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if got := e.syncer.calls.Load(); got != n {
		e.t.Fatalf("%d syncs, want %d", got, n)
	}
}

// resourceEvent is one Event Grid schema event about id.
func resourceEvent(eventID, eventType, op, id string) map[string]any {
	return map[string]any{"id": eventID, "eventType": eventType, "subject": id, "eventTime": time.Now().UTC().Format(time.RFC3339Nano),
		"dataVersion": "2", "metadataVersion": "1", "topic": "/subscriptions/" + testSub,
		"data": map[string]any{"operationName": op, "status": "Succeeded", "resourceUri": id, "subscriptionId": testSub}}
}

func cloudEvent(ev map[string]any) map[string]any {
	return map[string]any{"specversion": "1.0", "id": ev["id"], "type": ev["eventType"], "source": ev["topic"],
		"subject": ev["subject"], "time": ev["eventTime"], "data": ev["data"]}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const (
	regenBatch = "Microsoft.Batch/batchAccounts/regenerateKeys/action"
	regenHub   = "Microsoft.EventHub/namespaces/authorizationRules/regenerateKeys/action"
)

// TestEventsEachSchemaSyncsTheAccount: a regenerate event reaches a sync
// of its account in the Event Grid schema, a structured CloudEvent and a
// CloudEvents batch; the resource id and operation match without case.
func TestEventsEachSchemaSyncsTheAccount(t *testing.T) {
	bid, hid := batchAcct.ResourceID(), hubAcct.ResourceID()
	tests := []struct {
		name, contentType string
		body              func(t *testing.T) string
	}{
		{"event grid", "application/json", func(t *testing.T) string {
			return mustJSON(t, []any{resourceEvent("e1", "Microsoft.Resources.ResourceActionSuccess", strings.ToLower(regenBatch), strings.ToUpper(bid))})
		}},
		{"cloudevents structured", "application/cloudevents+json; charset=utf-8", func(t *testing.T) string {
			return mustJSON(t, cloudEvent(resourceEvent("e2", "Microsoft.Resources.ResourceActionSuccess", regenHub, hid)))
		}},
		{"cloudevents batch", "application/cloudevents-batch+json", func(t *testing.T) string {
			return mustJSON(t, []any{cloudEvent(resourceEvent("e3", "Microsoft.Resources.ResourceActionSuccess", regenBatch, bid))})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEventsEnv(t, nil)
			if w := e.post(tt.contentType, tt.body(t)); w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			e.waitSyncs(1)
			if got := e.h.Counts()[outQueued]; got != 1 {
				t.Fatalf("queued count %d, want 1", got)
			}
		})
	}
}

// TestEventsDroppedWithoutSync: events keysync does not act on are
// answered 200 (Event Grid must not retry them) and sync nothing.
func TestEventsDroppedWithoutSync(t *testing.T) {
	bid := batchAcct.ResourceID()
	other := strings.Replace(bid, "batch1", "batch2", 1)
	tests := []struct {
		name, outcome string
		ev            map[string]any
	}{
		{"listKeys is keysync's own read", outIrrelevant, resourceEvent("a", "Microsoft.Resources.ResourceActionSuccess", "Microsoft.Batch/batchAccounts/listKeys/action", bid)},
		{"failed regenerate", outIrrelevant, func() map[string]any {
			ev := resourceEvent("b", "Microsoft.Resources.ResourceActionFailure", regenBatch, bid)
			ev["data"].(map[string]any)["status"] = "Failed"
			return ev
		}()},
		{"another type's operation on the id", outIrrelevant, resourceEvent("c", "Microsoft.Resources.ResourceActionSuccess", "Microsoft.Storage/storageAccounts/regenerateKey/action", bid)},
		{"a resource keysync does not manage", outUnmanaged, resourceEvent("d", "Microsoft.Resources.ResourceActionSuccess", regenBatch, other)},
		{"not a resource id", outIrrelevant, resourceEvent("e", "Microsoft.Resources.ResourceActionSuccess", regenBatch, "/subscriptions/x")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEventsEnv(t, nil)
			if w := e.post("application/json", mustJSON(t, []any{tt.ev})); w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if got := e.h.Counts()[tt.outcome]; got != 1 {
				t.Fatalf("%s count %d, want 1 (counts %v)", tt.outcome, got, e.h.Counts())
			}
			// A later relevant event proves the loop turned since.
			e.post("application/json", mustJSON(t, []any{resourceEvent("later", "Microsoft.Resources.ResourceActionSuccess", regenHub, hubAcct.ResourceID())}))
			e.waitSyncs(1)
		})
	}
}

// TestEventsDuplicateAndCoalesced: a redelivered event (same id) syncs
// nothing more; many events for one account are at most two syncs, the
// one the first starts at once and one trailing run for those that came
// while it was running or in the window after it. The window, 3 s, holds
// the ten deliveries on any machine.
func TestEventsDuplicateAndCoalesced(t *testing.T) {
	e := newEventsEnvTargeting(t, 3*time.Second, 16, func(h *EventsHandler) {})
	bid := batchAcct.ResourceID()
	body := mustJSON(t, []any{resourceEvent("same", "Microsoft.Resources.ResourceActionSuccess", regenBatch, bid)})
	for range 5 {
		if w := e.post("application/json", body); w.Code != http.StatusOK {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	for i := range 5 {
		e.post("application/json", mustJSON(t, []any{resourceEvent(fmt.Sprint("other", i), "Microsoft.Resources.ResourceActionSuccess", regenBatch, bid)}))
	}
	c := e.h.Counts()
	if c[outDuplicate] != 4 || c[outQueued] < 1 || c[outQueued] > 2 || c[outQueued]+c[outCoalesced] != 6 {
		t.Fatalf("counts %v, want 4 duplicate, 1 or 2 queued and the rest of 6 coalesced", c)
	}
	e.waitSyncs(c[outQueued])
}

// failReader fails the test if the handler reads the body.
type failReader struct{ t *testing.T }

func (f failReader) Read([]byte) (int, error) {
	f.t.Error("the body of an unauthenticated request was read")
	return 0, io.EOF
}

// TestEventsUnauthenticated: without the secret a delivery gets 401 and
// its body is not read.
func TestEventsUnauthenticated(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*http.Request)
	}{
		{"no secret", func(r *http.Request) { r.Header.Del("X-Keysync-Secret") }},
		{"wrong secret", func(r *http.Request) { r.Header.Set("X-Keysync-Secret", testSecret+"x") }},
		{"secret in another header", func(r *http.Request) {
			r.Header.Del("X-Keysync-Secret")
			r.Header.Set("Authorization", "Bearer "+testSecret)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEventsEnv(t, nil)
			w := e.post("application/json", "", func(r *http.Request) { r.Body = io.NopCloser(failReader{t}); tt.mod(r) }, tt.mod)
			if w.Code != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", w.Code)
			}
			if e.h.Counts()[outUnauthorized] != 1 {
				t.Fatalf("counts %v", e.h.Counts())
			}
		})
	}
	e := newEventsEnv(t, nil)
	w := e.post("application/json", "[]", func(r *http.Request) {
		r.Header.Del("X-Keysync-Secret")
		r.URL.RawQuery = "code=" + testSecret
	})
	if w.Code == http.StatusUnauthorized {
		t.Fatal("the secret in the query parameter was refused")
	}
}

// TestEventsRefusedDeliveries: oversized, too long and malformed bodies
// get 413 or 400 with a one-line reason, and sync nothing.
func TestEventsRefusedDeliveries(t *testing.T) {
	ev := resourceEvent("x", "Microsoft.Resources.ResourceActionSuccess", regenBatch, batchAcct.ResourceID())
	many := make([]any, 11)
	for i := range many {
		many[i] = ev
	}
	noID := resourceEvent("", "Microsoft.Resources.ResourceActionSuccess", regenBatch, batchAcct.ResourceID())
	tests := []struct {
		name, contentType, body string
		status                  int
		reason                  string
	}{
		{"over the body limit", "application/json", "[" + strings.Repeat(" ", 65<<10) + "]", 413, "limit"},
		{"more events than max_events", "application/json", mustJSON(t, many), 413, "more than 10 events"},
		{"not JSON", "application/json", "[{", 400, "not valid JSON"},
		{"an object, not an array", "application/json", mustJSON(t, ev), 400, "JSON array"},
		{"an empty batch", "application/json", "[]", 400, "no event"},
		{"an event without id", "application/json", mustJSON(t, []any{noID}), 400, "id must be"},
		{"CloudEvent without specversion", "application/cloudevents+json", mustJSON(t, ev), 400, "specversion"},
		{"bad time", "application/json", strings.Replace(mustJSON(t, []any{ev}), ev["eventTime"].(string), "yesterday", 1), 400, "RFC 3339"},
		{"unknown content type", "text/plain", "[]", 400, "Content-Type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEventsEnv(t, nil)
			w := e.post(tt.contentType, tt.body)
			if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.reason) || strings.Count(strings.TrimSpace(w.Body.String()), "\n") > 0 {
				t.Fatalf("status %d body %q; want %d with %q on one line", w.Code, w.Body, tt.status, tt.reason)
			}
			if n := e.syncer.calls.Load(); n != 0 || e.sched.TargetsPending() != 0 {
				t.Fatalf("%d syncs after a refused delivery", n)
			}
		})
	}
}

// TestEventsHandshakes: Event Grid's validation event is answered with
// its code; the CloudEvents OPTIONS handshake with the origin and rate;
// both only when authenticated.
func TestEventsHandshakes(t *testing.T) {
	e := newEventsEnv(t, nil)
	val := []any{map[string]any{"id": "v1", "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent", "subject": "", "eventTime": "2026-11-29T10:00:00Z",
		"data": map[string]any{"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6", "validationUrl": "https://example.invalid/validate"}}}
	w := e.post("application/json", mustJSON(t, val), func(r *http.Request) { r.Header.Set("aeg-event-type", "SubscriptionValidation") })
	if w.Code != http.StatusOK || strings.TrimSpace(w.Body.String()) != `{"validationResponse":"512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}` {
		t.Fatalf("validation: status %d body %s", w.Code, w.Body)
	}
	opt := func(mod func(*http.Request)) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodOptions, "/events/eventgrid?code="+testSecret, nil)
		r.Header.Set("WebHook-Request-Origin", "eventgrid.azure.net")
		r.Header.Set("WebHook-Request-Rate", "120")
		mod(r)
		w := httptest.NewRecorder()
		e.handler.ServeHTTP(w, r)
		return w
	}
	w = opt(func(*http.Request) {})
	if w.Code != http.StatusOK || w.Header().Get("WebHook-Allowed-Origin") != "eventgrid.azure.net" || w.Header().Get("WebHook-Allowed-Rate") == "" {
		t.Fatalf("OPTIONS: status %d headers %v", w.Code, w.Header())
	}
	w = opt(func(r *http.Request) { r.URL.RawQuery = "" })
	if w.Code != http.StatusUnauthorized || w.Header().Get("WebHook-Allowed-Origin") != "" {
		t.Fatalf("OPTIONS without the secret: status %d headers %v", w.Code, w.Header())
	}
}

// TestEventsQueueFull: when the sync queue is full the delivery gets 503
// with Retry-After, so Event Grid retries; the events not taken are not
// marked seen.
func TestEventsQueueFull(t *testing.T) {
	e := newEventsEnvTargeting(t, time.Hour, 1, nil)
	evs := []any{
		resourceEvent("q1", "Microsoft.Resources.ResourceActionSuccess", regenBatch, batchAcct.ResourceID()),
		resourceEvent("q2", "Microsoft.Resources.ResourceActionSuccess", regenHub, hubAcct.ResourceID()),
	}
	w := e.post("application/json", mustJSON(t, evs))
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Fatalf("status %d headers %v, want 503 with Retry-After", w.Code, w.Header())
	}
	if e.h.seen.has("q2") || !e.h.seen.has("q1") {
		t.Fatal("the event not taken was marked seen, or the taken one not")
	}
}

// TestEventsNamespaceWriteSyncsItsRules: a write of an Event Hubs
// namespace (where disableLocalAuth lives) syncs the rules keysync keeps
// of it; a write of another namespace syncs nothing.
func TestEventsNamespaceWriteSyncsItsRules(t *testing.T) {
	e := newEventsEnv(t, nil)
	ns := scheduler.ParentKey(hubAcct.ResourceID())
	other := strings.Replace(ns, "hubns1", "hubns2", 1)
	for i, id := range []string{other, strings.ToUpper(ns)} {
		ev := resourceEvent(fmt.Sprint("w", i), "Microsoft.Resources.ResourceWriteSuccess", "Microsoft.EventHub/namespaces/write", id)
		if w := e.post("application/json", mustJSON(t, []any{ev})); w.Code != http.StatusOK {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	e.waitSyncs(1)
	if c := e.h.Counts(); c[outUnmanaged] != 1 || c[outQueued] != 1 {
		t.Fatalf("counts %v, want 1 unmanaged (the other namespace) and 1 queued", c)
	}
}

// TestEventsSecretFileUnusable: while the shared secret's file cannot be
// used (a mode others can read, set by a rotation gone wrong), no
// delivery can be checked: it gets 503 with Retry-After, which Event
// Grid retries, not 401, which it drops; once the file is fixed the same
// delivery passes.
func TestEventsSecretFileUnusable(t *testing.T) {
	e := newEventsEnv(t, nil)
	body := mustJSON(t, []any{resourceEvent("u1", "Microsoft.Resources.ResourceActionSuccess", regenBatch, batchAcct.ResourceID())})
	if err := os.Chmod(e.h.Secret.path, 0o644); err != nil {
		t.Fatal(err)
	}
	w := e.post("application/json", body)
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" || strings.Contains(w.Body.String(), testSecret) {
		t.Fatalf("status %d headers %v body %s, want 503 with Retry-After", w.Code, w.Header(), w.Body)
	}
	if c := e.h.Counts(); c[outUnverifiable] != 1 || c[outUnauthorized] != 0 {
		t.Fatalf("counts %v, want 1 unverifiable", c)
	}
	if err := os.Chmod(e.h.Secret.path, 0o600); err != nil {
		t.Fatal(err)
	}
	if w := e.post("application/json", body); w.Code != http.StatusOK {
		t.Fatalf("after the fix: status %d %s", w.Code, w.Body)
	}
	e.waitSyncs(1)
}

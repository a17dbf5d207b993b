package armemu

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func publishN(e *Emulator, prefix string, n int) {
	for i := range n {
		e.PublishEvent(ResourceEvent{ID: fmt.Sprintf("%s-%d", prefix, i), ResourceURI: "/subscriptions/s/x", OperationName: "a/b/action"})
	}
}

// TestEventGridRetries: 500, 503, 429 and 408 are retried on Event Grid's
// schedule scaled by RetryBase (10 s, 30 s, 1 min as 1, 3, 6 bases), 503
// after 30 s and 408 after 2 min at least, with aeg-delivery-count
// counting; 400, 401, 403 and 413 are dropped after one attempt;
// MaxDeliveryAttempts ends the retries.
func TestEventGridRetries(t *testing.T) {
	const base = 40 * time.Millisecond
	tests := []struct {
		name     string
		status   int
		failures int // answers of status before 200
		attempts int // MaxDeliveryAttempts
		want     int // attempts made
		dropped  bool
	}{
		{"500 then ok", http.StatusInternalServerError, 3, 30, 4, false},
		{"503 then ok", http.StatusServiceUnavailable, 1, 30, 2, false},
		{"429 then ok", http.StatusTooManyRequests, 2, 30, 3, false},
		{"408 then ok", http.StatusRequestTimeout, 1, 30, 2, false},
		{"400 dropped", http.StatusBadRequest, 5, 30, 1, true},
		{"401 dropped", http.StatusUnauthorized, 5, 30, 1, true},
		{"403 dropped", http.StatusForbidden, 5, 30, 1, true},
		{"413 dropped", http.StatusRequestEntityTooLarge, 5, 30, 1, true},
		{"out of attempts", http.StatusInternalServerError, 10, 3, 3, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, rc := newGrid(t)
			rc.setAnswer(func(n int) int {
				if n < tt.failures {
					return tt.status
				}
				return http.StatusOK
			})
			subscribe(t, c.emu, rc, EventSubscription{RetryBase: base, MaxDeliveryAttempts: tt.attempts})
			publishN(c.emu, "ev", 1)
			waitFor(t, "the last attempt", func() bool {
				ds := c.emu.Deliveries("sub-1")
				return len(ds) == tt.want && (!tt.dropped || len(c.emu.Dropped("sub-1")) == 1)
			})
			checkAttempts(t, rc.notifications(), c.emu.Deliveries("sub-1"), base, tt.status)
			if tt.dropped {
				// A later event proves nothing more came for the dropped one.
				rc.setAnswer(nil)
				publishN(c.emu, "later", 1)
				waitFor(t, "the later event", func() bool { return slices.Contains(rc.eventIDs(), "later-0") })
				if n := len(rc.notifications()); n != tt.want+1 {
					t.Errorf("%d notifications, want %d and the later one", n, tt.want)
				}
			}
		})
	}
}

// checkAttempts: the n-th attempt carries aeg-delivery-count n-1 and comes
// no sooner than Event Grid's schedule, and its least wait after status,
// allow after the one before.
func checkAttempts(t *testing.T, notes []received, ds []Delivery, base time.Duration, status int) {
	t.Helper()
	for i, n := range notes {
		if got := n.Header.Get("aeg-delivery-count"); got != strconv.Itoa(i) {
			t.Errorf("attempt %d: aeg-delivery-count %q", i+1, got)
		}
		if i == 0 {
			continue
		}
		// delivery-and-retry: 10 s, 30 s, 1 min, 5 min, in tens of
		// seconds; "Failure codes": 503 after 30 s or more, 408 after 2
		// minutes or more.
		doc := []int64{1, 3, 6, 30}
		least := map[int]int64{http.StatusServiceUnavailable: 3, http.StatusRequestTimeout: 12}[status]
		step := time.Duration(max(doc[min(i-1, len(doc)-1)], least)) * base
		if gap := n.At.Sub(notes[i-1].At); gap < step {
			t.Errorf("attempt %d came %v after the one before, want at least %v", i+1, gap, step)
		}
	}
	for i, d := range ds {
		if d.Attempt != i+1 || !slices.Equal(d.EventIDs, []string{"ev-0"}) {
			t.Errorf("delivery %d: %+v", i, d)
		}
	}
}

// TestEventGridTimeout: a webhook that does not answer within the delivery
// timeout is retried, and the answer of the retry counts. Only the first
// notification goes unanswered, so the test waits on the sender giving up,
// not on a race with it; a retry slower than the timeout on a busy machine
// only adds a timed-out attempt before the delivered one.
func TestEventGridTimeout(t *testing.T) {
	c, rc := newGrid(t)
	rc.set(func() { rc.silent = func(n int) bool { return n == 0 } })
	subscribe(t, c.emu, rc, EventSubscription{Timeout: 2 * time.Second, RetryBase: 10 * time.Millisecond})
	publishN(c.emu, "ev", 1)
	waitFor(t, "a delivered retry", func() bool {
		ds := c.emu.Deliveries("sub-1")
		return len(ds) > 0 && ds[len(ds)-1].Status == http.StatusOK
	})
	ds := c.emu.Deliveries("sub-1")
	if len(ds) < 2 {
		t.Fatalf("%d attempts, want the timed-out one and its retry: %+v", len(ds), ds)
	}
	for _, d := range ds[:len(ds)-1] {
		if d.Status != 0 || !strings.HasPrefix(d.Err, "no answer") {
			t.Errorf("attempt %d before the delivered one did not time out: %+v", d.Attempt, d)
		}
	}
}

// TestEventGridBatching: events queued while a delivery is in flight go in
// batches of at most MaxEventsPerBatch, each event once; the Event Grid
// schema and batched CloudEvents are arrays, of their content types.
func TestEventGridBatching(t *testing.T) {
	for _, tt := range []struct {
		schema, contentType string
	}{
		{SchemaEventGrid, "application/json"},
		{SchemaCloudEvents, "application/cloudevents-batch+json"},
	} {
		t.Run(tt.schema, func(t *testing.T) {
			c, rc := newGrid(t)
			gate := make(chan struct{})
			rc.set(func() { rc.gate = gate })
			subscribe(t, c.emu, rc, EventSubscription{Schema: tt.schema, Batched: true, MaxEventsPerBatch: 3})
			publishN(c.emu, "ev", 1)
			waitFor(t, "the first delivery", func() bool { return len(rc.notifications()) == 1 })
			publishN(c.emu, "more", 7)
			close(gate)
			waitFor(t, "every event", func() bool { return len(rc.eventIDs()) == 8 })
			var sizes []int
			for _, n := range rc.notifications() {
				sizes = append(sizes, len(n.Events))
				if n.ContentType != tt.contentType {
					t.Errorf("content type %q", n.ContentType)
				}
			}
			if !slices.Equal(sizes, []int{1, 3, 3, 1}) {
				t.Errorf("batch sizes %v, want 1 3 3 1", sizes)
			}
			ids := rc.eventIDs()
			slices.Sort(ids)
			if len(slices.Compact(ids)) != 8 {
				t.Errorf("ids %q", ids)
			}
		})
	}
}

// TestEventGridPreferredBatchSize: a batch stops before it would pass the
// preferred size.
func TestEventGridPreferredBatchSize(t *testing.T) {
	c, rc := newGrid(t)
	gate := make(chan struct{})
	rc.set(func() { rc.gate = gate })
	subscribe(t, c.emu, rc, EventSubscription{MaxEventsPerBatch: 100, PreferredBatchSizeKB: 2})
	publishN(c.emu, "ev", 1)
	waitFor(t, "the first delivery", func() bool { return len(rc.notifications()) == 1 })
	for i := range 12 { // some 700 bytes each: two to a batch of 2 KB
		c.emu.PublishEvent(ResourceEvent{ID: fmt.Sprintf("big-%d", i), ResourceURI: "/subscriptions/s/" + strings.Repeat("x", 10),
			OperationName: "a/b/action"})
	}
	close(gate)
	waitFor(t, "every event", func() bool { return len(rc.eventIDs()) == 13 })
	notes := rc.notifications()[1:]
	if len(notes) < 4 || len(notes[0].Events) < 2 {
		t.Errorf("%d batches, the first of %d events: the size did not cut them", len(notes), len(notes[0].Events))
	}
	for _, n := range notes {
		if len(n.Body) > 2048 {
			t.Errorf("batch of %d events, %d bytes", len(n.Events), len(n.Body))
		}
	}
}

// TestEventGridSharedSecret: the query and static headers reach every
// request, handshake included, and no error or record shows the query.
func TestEventGridSharedSecret(t *testing.T) {
	for _, schema := range []string{SchemaEventGrid, SchemaCloudEvents} {
		t.Run(schema, func(t *testing.T) {
			c, rc := newGrid(t)
			rc.setAnswer(func(n int) int { return []int{http.StatusInternalServerError, http.StatusOK}[min(n, 1)] })
			subscribe(t, c.emu, rc, EventSubscription{Schema: schema, RetryBase: time.Millisecond,
				Query: map[string]string{"code": "s3cret-q"}, Headers: map[string]string{"X-Keysync-Secret": "s3cret-h"}})
			publishN(c.emu, "ev", 1)
			waitFor(t, "the retry", func() bool { return len(rc.notifications()) == 2 })
			for _, r := range append(rc.handshakeRequests(), rc.notifications()...) {
				if r.Query.Get("code") != "s3cret-q" || r.Header.Get("X-Keysync-Secret") != "s3cret-h" {
					t.Errorf("%s request: query %v, header %q", r.Method, r.Query, r.Header.Get("X-Keysync-Secret"))
				}
			}
			for _, d := range c.emu.Deliveries("sub-1") {
				if strings.Contains(d.Err, "s3cret") {
					t.Errorf("delivery record shows the secret")
				}
			}
		})
	}
}

// TestEventGridUnreachableHidesQuery: a connection error names no query.
func TestEventGridUnreachableHidesQuery(t *testing.T) {
	e := start(t).emu
	err := e.Subscribe(t.Context(), EventSubscription{Name: "sub-1", Endpoint: "http://127.0.0.1:1/x",
		Query: map[string]string{"code": "s3cret-q"}})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("Subscribe to a closed port = %v", err)
	}
}

// TestEventGridAdminAPI: a standalone emulator's admin routes subscribe,
// publish, list deliveries, unsubscribe and tell the Entra tenant.
func TestEventGridAdminAPI(t *testing.T) {
	c, rc := newGrid(t)
	post := func(path string, body any) int {
		b, _ := json.Marshal(body)
		return c.do(c.request(http.MethodPost, c.emu.URL()+path, bytes.NewReader(b)), nil)
	}
	if s := post("/_emulator/eventgrid/subscriptions", map[string]any{"name": "adm-1", "endpoint": rc.url(),
		"schema": SchemaCloudEvents, "includedOperations": []string{"a/b/action"}}); s != http.StatusNoContent {
		t.Fatalf("subscribe: %d", s)
	}
	if s := post("/_emulator/eventgrid/subscriptions", map[string]any{"name": "adm-2", "endpoint": "http://example.com/"}); s != http.StatusBadRequest {
		t.Errorf("a bad subscription: %d", s)
	}
	events := []map[string]string{{"id": "e1", "resourceUri": "/subscriptions/s/x", "operationName": "a/b/action"},
		{"id": "e2", "resourceUri": "/subscriptions/s/x", "operationName": "c/d/action"}}
	if s := post("/_emulator/eventgrid/events", map[string]any{"events": events}); s != http.StatusNoContent {
		t.Fatalf("publish: %d", s)
	}
	var got struct{ Deliveries []Delivery }
	waitFor(t, "the delivery", func() bool {
		c.do(c.request(http.MethodGet, c.emu.URL()+"/_emulator/eventgrid/subscriptions/adm-1", nil), &got)
		return len(got.Deliveries) == 1
	})
	if !slices.Equal(got.Deliveries[0].EventIDs, []string{"e1"}) || !slices.Equal(rc.eventIDs(), []string{"e1"}) {
		t.Errorf("deliveries %+v", got.Deliveries)
	}
	var entra map[string]string
	c.do(c.request(http.MethodGet, c.emu.URL()+"/_emulator/eventgrid/entra", nil), &entra)
	if tenant, issuer, keys := c.emu.EntraTenant(); entra["tenantId"] != tenant || entra["issuer"] != issuer || entra["keysUrl"] != keys {
		t.Errorf("entra %v", entra)
	}
	if s := c.do(c.request(http.MethodDelete, c.emu.URL()+"/_emulator/eventgrid/subscriptions/adm-1", nil), nil); s != http.StatusNoContent {
		t.Errorf("unsubscribe: %d", s)
	}
	if n := len(c.emu.eg.live()); n != 0 {
		t.Errorf("%d subscriptions after unsubscribe", n)
	}
}

// TestEventGridQueueBound: with the webhook hanging, ARM still answers and
// a subscription queues at most egQueueLen events: the rest are dropped,
// not waited for. The delivery in flight can end only when the gate opens
// or after the delivery timeout, so an attempt that ended while ARM and
// publishing ran would mean they waited on the webhook. The timeout is 5
// minutes, not Event Grid's 30 s: publishing 10,004 events took 11 s on a
// machine loaded on purpose.
func TestEventGridQueueBound(t *testing.T) {
	c, rc := newGrid(t)
	gate := make(chan struct{})
	rc.set(func() { rc.gate = gate })
	subscribe(t, c.emu, rc, EventSubscription{MaxEventsPerBatch: 500, Timeout: 5 * time.Minute})
	publishN(c.emu, "first", 1)
	waitFor(t, "the delivery in flight", func() bool { return len(rc.notifications()) == 1 })
	r := resourceOf("batch")
	c.emu.Add(r)
	if s := c.post(r, "listKeys", "2024-02-01", nil, nil); s != http.StatusOK {
		t.Fatalf("listKeys: %d", s)
	}
	publishN(c.emu, "ev", egQueueLen+4) // the listKeys event and these: 5 too many
	if ds := c.emu.Deliveries("sub-1"); len(ds) != 0 {
		t.Errorf("ARM and publishing waited for the hanging webhook: %d attempts ended meanwhile: %+v", len(ds), ds[0])
	}
	dropped := c.emu.Dropped("sub-1")
	want := []string{"ev-9999", "ev-10000", "ev-10001", "ev-10002", "ev-10003"}
	if !slices.Equal(dropped, want) {
		t.Errorf("dropped %d events, the first %q; want %q", len(dropped), dropped[:min(5, len(dropped))], want)
	}
	close(gate)
	waitFor(t, "the queue emptied", func() bool { return rc.eventCount() == 1+egQueueLen })
}

// TestEventGridEventTTL: a failing batch older than its time to live is
// dropped at its next scheduled retry, without that attempt. The retries
// are due at least 1 and 1+3 bases after publishing; a TTL of 3.5 bases
// lies between, with 2.5 s for the second attempt to start.
func TestEventGridEventTTL(t *testing.T) {
	c, rc := newGrid(t)
	rc.setAnswer(func(int) int { return http.StatusInternalServerError })
	subscribe(t, c.emu, rc, EventSubscription{RetryBase: time.Second, EventTTL: 3500 * time.Millisecond})
	publishN(c.emu, "ev", 1)
	waitFor(t, "the event dropped", func() bool { return len(c.emu.Dropped("sub-1")) == 1 })
	// Attempts at 0 and 1 s; the one due at 4 s is past the TTL.
	if ds := c.emu.Deliveries("sub-1"); len(ds) != 2 {
		t.Errorf("%d attempts, want 2: %+v", len(ds), ds)
	}
}

package armemu

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// newGrid starts an emulator whose Event Grid delivers to a new receiver.
func newGrid(t *testing.T) (*client, *receiver) {
	t.Helper()
	return start(t), newReceiver(t)
}

// subscribe subscribes s (named "sub-1" unless named) to rc, or fails.
func subscribe(t *testing.T, e *Emulator, rc *receiver, s EventSubscription) {
	t.Helper()
	s.Name = cmpOrString(s.Name, "sub-1")
	s.Endpoint = rc.url()
	if err := e.Subscribe(t.Context(), s); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
}

// TestEventGridHandshake: Subscribe does the schema's handshake first
// (Event Grid: the validation event answered with validationResponse and
// 200; CloudEvents: OPTIONS answered with WebHook-Allowed-Origin) and a
// refused handshake leaves no subscription.
func TestEventGridHandshake(t *testing.T) {
	tests := []struct {
		name, schema, refuse, wantErr string
	}{
		{name: "event grid consents", schema: SchemaEventGrid},
		{name: "event grid wrong code", schema: SchemaEventGrid, refuse: "wrong-code", wantErr: "not the validationCode"},
		{name: "event grid 202", schema: SchemaEventGrid, refuse: "202", wantErr: "status 202"},
		{name: "event grid capitalised name", schema: SchemaEventGrid, refuse: "capital", wantErr: `no "validationResponse"`},
		{name: "event grid 401", schema: SchemaEventGrid, refuse: "401", wantErr: "status 401"},
		{name: "cloudevents consents", schema: SchemaCloudEvents},
		{name: "cloudevents 405", schema: SchemaCloudEvents, refuse: "405", wantErr: "status 405"},
		{name: "cloudevents other origin", schema: SchemaCloudEvents, refuse: "other-origin", wantErr: "WebHook-Allowed-Origin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, rc := newGrid(t)
			rc.set(func() { rc.refuse = tt.refuse })
			err := c.emu.Subscribe(t.Context(), EventSubscription{Name: "sub-1", Endpoint: rc.url(), Schema: tt.schema})
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Subscribe = %v, want error containing %q", err, tt.wantErr)
			}
			checkHandshakeRequest(t, rc, tt.schema)
			c.emu.PublishEvent(ResourceEvent{ResourceURI: "/subscriptions/s/resourceGroups/rg", OperationName: "x/y/action"})
			if tt.wantErr != "" && c.emu.Deliveries("sub-1") != nil {
				t.Error("a refused subscription has deliveries")
			}
			if tt.wantErr == "" {
				waitFor(t, "the first delivery", func() bool { return len(rc.notifications()) == 1 })
			}
		})
	}
}

// checkHandshakeRequest: the one handshake request is the documented one.
func checkHandshakeRequest(t *testing.T, rc *receiver, schema string) {
	t.Helper()
	hs := rc.handshakeRequests()
	if len(hs) != 1 {
		t.Fatalf("%d handshake requests, want 1", len(hs))
	}
	h := hs[0]
	if schema == SchemaCloudEvents {
		if h.Method != http.MethodOptions || h.Header.Get("WebHook-Request-Origin") != "eventgrid.azure.net" {
			t.Errorf("handshake %s with WebHook-Request-Origin %q", h.Method, h.Header.Get("WebHook-Request-Origin"))
		}
		return
	}
	if h.Method != http.MethodPost || h.ContentType != "application/json" || h.Header.Get("aeg-subscription-name") != "SUB-1" {
		t.Errorf("validation request: %s %s, aeg-subscription-name %q", h.Method, h.ContentType, h.Header.Get("aeg-subscription-name"))
	}
	var evs []gridIn
	if err := strictDecode(h.Body, &evs); err != nil || len(evs) != 1 || evs[0].EventType != EventSubscriptionValidation ||
		!strings.Contains(string(evs[0].Data), `"validationCode"`) || !strings.Contains(string(evs[0].Data), `"validationUrl"`) {
		t.Errorf("validation body %s (%v)", h.Body, err)
	}
}

// TestEventGridSubscribeChecks: what Event Grid's API refuses is refused
// before any request.
func TestEventGridSubscribeChecks(t *testing.T) {
	many := map[string]string{}
	for i := range 11 {
		many["h"+string(rune('a'+i))] = "v"
	}
	tests := []struct {
		name    string
		s       EventSubscription
		wantErr string
	}{
		{"short name", EventSubscription{Name: "ab", Endpoint: "https://example.com/"}, "3 to 64"},
		{"http off loopback", EventSubscription{Name: "abc", Endpoint: "http://example.com/"}, "http only to a loopback"},
		{"no scheme", EventSubscription{Name: "abc", Endpoint: "example.com"}, "absolute URL"},
		{"schema", EventSubscription{Name: "abc", Endpoint: "https://example.com/", Schema: "CustomInputSchema"}, "schema"},
		{"batch", EventSubscription{Name: "abc", Endpoint: "https://example.com/", MaxEventsPerBatch: 5001}, "max events per batch"},
		{"attempts", EventSubscription{Name: "abc", Endpoint: "https://example.com/", MaxDeliveryAttempts: 31}, "max delivery attempts"},
		{"headers", EventSubscription{Name: "abc", Endpoint: "https://example.com/", Headers: many}, "11 delivery headers"},
		{"header size", EventSubscription{Name: "abc", Endpoint: "https://example.com/",
			Headers: map[string]string{"x": strings.Repeat("a", 4097)}}, "longer than 4096"},
	}
	e := New()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.Subscribe(t.Context(), tt.s)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Subscribe = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestEventGridEventShapes: a regenerate, a listKeys and a key switch
// through ARM each reach the webhook in both schemas, shaped as Azure's
// documents show, with the aeg-* headers; an Event Hubs rule's event names
// the rule, spelt as the request spelt it.
func TestEventGridEventShapes(t *testing.T) {
	for _, schema := range []string{SchemaEventGrid, SchemaCloudEvents} {
		t.Run(schema, func(t *testing.T) {
			c, rc := newGrid(t)
			r := resourceOf("eventhubs")
			c.emu.Add(r)
			subscribe(t, c.emu, rc, EventSubscription{Schema: schema})
			id := strings.Replace(r.ID(), "/authorizationRules/", "/AuthorizationRules/", 1)
			req := c.request(http.MethodPost, c.emu.URL()+id+"/regenerateKeys?api-version=2024-01-01",
				strings.NewReader(`{"keyType":"PrimaryKey"}`))
			req.Header.Set("Authorization", "Bearer "+c.token)
			if status := c.do(req, nil); status != http.StatusOK {
				t.Fatalf("regenerate: %d", status)
			}
			if status := c.post(r, "listKeys", "2024-01-01", nil, nil); status != http.StatusOK {
				t.Fatalf("listKeys: %d", status)
			}
			if err := c.emu.SetKeysDisabled(r, true); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "three deliveries", func() bool { return len(rc.notifications()) == 3 })
			notes := rc.notifications()
			checkNotification(t, notes[0], schema, 0)
			want := []struct{ typ, subject, op string }{
				{EventResourceActionSuccess, id, "Microsoft.EventHub/namespaces/AuthorizationRules/regenerateKeys/action"},
				{EventResourceActionSuccess, r.ID(), "Microsoft.EventHub/namespaces/authorizationRules/listKeys/action"},
				{EventResourceWriteSuccess, Resource{Type: r.Type, Subscription: r.Subscription, ResourceGroup: r.ResourceGroup, Name: r.Name}.ID(),
					"Microsoft.EventHub/namespaces/write"},
			}
			for i, w := range want {
				checkEvent(t, notes[i].Events, w.typ, w.subject, w.op, r.Subscription)
			}
			if h := notes[0].Events[0].Data.HTTPRequest; h == nil || h.Method != http.MethodPost || !strings.Contains(h.URL, id+"/regenerateKeys?") {
				t.Errorf("httpRequest %+v", h)
			}
		})
	}
}

// checkNotification: the headers of a notification (includes/event-grid-message-headers).
func checkNotification(t *testing.T, n received, schema string, count int) {
	t.Helper()
	wantType, wantMeta := "application/json", "1"
	if schema == SchemaCloudEvents {
		wantType, wantMeta = "application/cloudevents+json", "1.0"
	}
	h := n.Header
	if n.Method != http.MethodPost || n.ContentType != wantType || h.Get("aeg-event-type") != "Notification" ||
		h.Get("aeg-subscription-name") != "SUB-1" || h.Get("aeg-delivery-count") != strconv.Itoa(count) ||
		h.Get("aeg-metadata-version") != wantMeta {
		t.Errorf("notification %s %s, headers %v", n.Method, n.ContentType, h)
	}
	if (schema == SchemaEventGrid) != (h.Get("aeg-data-version") == "2") {
		t.Errorf("aeg-data-version %q for %s", h.Get("aeg-data-version"), schema)
	}
}

// checkEvent: one event of the type, subject and operation given, whose
// data agrees with them.
func checkEvent(t *testing.T, evs []eventIn, typ, subject, op, sub string) {
	t.Helper()
	if len(evs) != 1 {
		t.Fatalf("%d events, want 1", len(evs))
	}
	ev, d := evs[0], evs[0].Data
	if ev.Type != typ || ev.Subject != subject || ev.Source != "/subscriptions/"+sub || ev.ID == "" {
		t.Errorf("event type %q subject %q source %q id %q; want %q %q", ev.Type, ev.Subject, ev.Source, ev.ID, typ, subject)
	}
	if d.OperationName != op || d.ResourceURI != subject || d.Status != "Succeeded" || d.SubscriptionID != sub ||
		d.ResourceProvider != "Microsoft.EventHub" || d.Authorization.Action != op || d.Authorization.Scope != subject || d.TenantID == "" {
		t.Errorf("data %+v, want operation %q on %q", d, op, subject)
	}
}

// TestEventGridGoAPIEmits: Regenerate through the Go (and admin) API
// publishes the type's regenerate action for every type.
func TestEventGridGoAPIEmits(t *testing.T) {
	c, rc := newGrid(t)
	subscribe(t, c.emu, rc, EventSubscription{MaxEventsPerBatch: 1})
	for _, name := range TypeNames() {
		r := resourceOf(name)
		c.emu.Add(r)
		if _, err := c.emu.Regenerate(r, Types[name].Keys[1]); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "one event per type", func() bool { return len(rc.eventIDs()) == len(Types) })
	var ops []string
	for _, n := range rc.notifications() {
		ops = append(ops, n.Events[0].Data.OperationName)
	}
	slices.Sort(ops)
	want := []string{"Microsoft.Batch/batchAccounts/regenerateKeys/action", "Microsoft.Cache/redis/regenerateKey/action",
		"Microsoft.CognitiveServices/accounts/regenerateKey/action", "Microsoft.DocumentDB/databaseAccounts/regenerateKey/action",
		"Microsoft.EventHub/namespaces/authorizationRules/regenerateKeys/action", "Microsoft.Maps/accounts/regenerateKey/action",
		"Microsoft.Search/searchServices/regenerateAdminKey/action", "Microsoft.ServiceBus/namespaces/authorizationRules/regenerateKeys/action",
		"Microsoft.SignalRService/signalR/regenerateKey/action", "Microsoft.Storage/storageAccounts/regenerateKey/action"}
	if !slices.Equal(ops, want) {
		t.Errorf("operations\n%q\nwant\n%q", ops, want)
	}
}

// TestEventGridFilters: IncludedOperations (case-insensitive) and
// IncludedEventTypes let only matching events through.
func TestEventGridFilters(t *testing.T) {
	c, rc := newGrid(t)
	subscribe(t, c.emu, rc, EventSubscription{IncludedOperations: []string{"microsoft.batch/batchaccounts/regeneratekeys/action"},
		IncludedEventTypes: []string{EventResourceActionSuccess}})
	uri := "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Batch/batchAccounts/b"
	c.emu.PublishEvent(ResourceEvent{ID: "list", ResourceURI: uri, OperationName: "Microsoft.Batch/batchAccounts/listKeys/action"})
	c.emu.PublishEvent(ResourceEvent{ID: "failed", EventType: "Microsoft.Resources.ResourceActionFailure", ResourceURI: uri,
		OperationName: "Microsoft.Batch/batchAccounts/regenerateKeys/action"})
	c.emu.PublishEvent(ResourceEvent{ID: "regen", ResourceURI: uri, OperationName: "Microsoft.Batch/batchAccounts/regenerateKeys/action"})
	c.emu.PublishEvent(ResourceEvent{ID: "last", ResourceURI: uri, OperationName: "MICROSOFT.BATCH/batchAccounts/regenerateKeys/action"})
	waitFor(t, "the last event", func() bool { return slices.Contains(rc.eventIDs(), "last") })
	if got := rc.eventIDs(); !slices.Equal(got, []string{"regen", "last"}) {
		t.Errorf("delivered %q, want regen and last", got)
	}
}

// TestEventGridDuplicates: the same id published twice is delivered twice,
// as Event Grid's at-least-once delivery may.
func TestEventGridDuplicates(t *testing.T) {
	c, rc := newGrid(t)
	subscribe(t, c.emu, rc, EventSubscription{})
	for range 2 {
		c.emu.PublishEvent(ResourceEvent{ID: "dup-1", ResourceURI: "/subscriptions/s/resourceGroups/rg", OperationName: "a/b/action"})
	}
	// The emulator records a delivery after its answer came: wait for
	// both ends, not for the webhook's alone.
	waitFor(t, "two deliveries", func() bool { return len(rc.eventIDs()) == 2 && len(c.emu.Deliveries("sub-1")) == 2 })
	if got := rc.eventIDs(); got[0] != "dup-1" || got[1] != "dup-1" {
		t.Errorf("ids %q", got)
	}
	if ds := c.emu.Deliveries("SUB-1"); len(ds) != 2 || ds[0].Status != http.StatusOK || ds[0].Attempt != 1 {
		t.Errorf("deliveries %+v", ds)
	}
}

// TestEventGridOversizedEvent: an event over Event Grid's 1 MB is dropped,
// never delivered, and the next one still goes.
func TestEventGridOversizedEvent(t *testing.T) {
	c, rc := newGrid(t)
	subscribe(t, c.emu, rc, EventSubscription{})
	c.emu.PublishEvent(ResourceEvent{ID: "huge", ResourceURI: "/subscriptions/s/" + strings.Repeat("a", MaxEventSize), OperationName: "a/b/action"})
	c.emu.PublishEvent(ResourceEvent{ID: "small", ResourceURI: "/subscriptions/s/x", OperationName: "a/b/action"})
	waitFor(t, "the small event", func() bool { return slices.Contains(rc.eventIDs(), "small") })
	if got := rc.eventIDs(); len(got) != 1 || !slices.Equal(c.emu.Dropped("sub-1"), []string{"huge"}) {
		t.Errorf("delivered %q, dropped %q", got, c.emu.Dropped("sub-1"))
	}
}

// TestEventGridCloseStops: Close ends a delivery in flight at once, and
// nothing is delivered after it. The webhook never answers, so only Close
// can end that delivery before Event Grid's 30 s timeout: its record says
// it was stopped. A Close that waited for the webhook would take minutes
// (30 attempts of 30 s); a minute tells that apart on any machine.
func TestEventGridCloseStops(t *testing.T) {
	e := New()
	if err := e.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	rc := newReceiver(t)
	gate := make(chan struct{}) // never opened: the webhook hangs
	rc.set(func() { rc.gate = gate })
	subscribe(t, e, rc, EventSubscription{MaxDeliveryAttempts: 30, RetryBase: time.Millisecond})
	e.PublishEvent(ResourceEvent{ID: "a", ResourceURI: "/subscriptions/s/x", OperationName: "a/b/action"})
	waitFor(t, "the delivery in flight", func() bool { return len(rc.notifications()) == 1 })
	closed := make(chan error, 1)
	go func() { closed <- e.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Close waited for the delivery in flight")
	}
	if ds := e.Deliveries("sub-1"); len(ds) != 1 || !strings.HasPrefix(ds[0].Err, "stopped") {
		t.Errorf("the delivery in flight did not end by Close: %+v", ds)
	}
	e.PublishEvent(ResourceEvent{ID: "b", ResourceURI: "/subscriptions/s/x", OperationName: "a/b/action"})
	if err := e.Subscribe(context.Background(), EventSubscription{Name: "sub-2", Endpoint: rc.url()}); err == nil {
		t.Error("Subscribe after Close succeeded")
	}
	if n := len(rc.notifications()); n != 1 {
		t.Errorf("%d notifications after Close, want the 1 in flight", n)
	}
}

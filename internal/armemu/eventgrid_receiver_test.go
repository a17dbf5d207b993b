package armemu

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"
)

// The test receiver decodes what the emulator sends as a webhook written
// from Microsoft's documents would, strictly (unknown fields refused), so
// that a field the emulator invents or misspells fails a test:
// event-schema-subscriptions (Event Grid schema of ARM events),
// cloud-event-schema (CloudEvents), webhook-event-delivery (handshake).

// gridIn is an Event Grid schema event.
type gridIn struct {
	ID              string          `json:"id"`
	Topic           string          `json:"topic"`
	Subject         string          `json:"subject"`
	EventType       string          `json:"eventType"`
	EventTime       time.Time       `json:"eventTime"`
	Data            json.RawMessage `json:"data"`
	DataVersion     string          `json:"dataVersion"`
	MetadataVersion string          `json:"metadataVersion"`
}

// ceIn is a CloudEvents 1.0 event.
type ceIn struct {
	SpecVersion string          `json:"specversion"`
	Type        string          `json:"type"`
	Source      string          `json:"source"`
	ID          string          `json:"id"`
	Time        time.Time       `json:"time"`
	Subject     string          `json:"subject"`
	Data        json.RawMessage `json:"data"`
}

// armDataIn is data of a Resource Manager event.
type armDataIn struct {
	Authorization struct {
		Scope    string            `json:"scope"`
		Action   string            `json:"action"`
		Evidence map[string]string `json:"evidence"`
	} `json:"authorization"`
	Claims        map[string]string `json:"claims"`
	CorrelationID string            `json:"correlationId"`
	HTTPRequest   *struct {
		ClientRequestID string `json:"clientRequestId"`
		ClientIPAddress string `json:"clientIpAddress"`
		Method          string `json:"method"`
		URL             string `json:"url"`
	} `json:"httpRequest"`
	ResourceProvider string `json:"resourceProvider"`
	ResourceURI      string `json:"resourceUri"`
	OperationName    string `json:"operationName"`
	Status           string `json:"status"`
	SubscriptionID   string `json:"subscriptionId"`
	TenantID         string `json:"tenantId"`
}

// eventIn is one received event, either schema, in common terms.
type eventIn struct {
	ID, Type, Subject, Source string
	Data                      armDataIn
}

// received is one request the receiver got.
type received struct {
	Method, ContentType string
	Header              http.Header
	Query               url.Values
	Body                []byte
	At                  time.Time
	Events              []eventIn
}

// receiver is a webhook: it answers handshakes as configured and each
// notification with answer(n), n counting notifications from 0.
type receiver struct {
	t   testing.TB
	srv *httptest.Server

	mu         sync.Mutex
	handshakes []received
	notes      []received
	events     int // in notes, counted as they come so that waiting on them is cheap
	// refuse makes the handshake fail in the named way.
	refuse string
	// answer gives the status of the n-th notification (200 when nil).
	answer func(n int) int
	// gate, when set, holds every notification until it is closed.
	gate chan struct{}
	// silent, when set, says which notifications get no answer at all: the
	// receiver waits until the sender gives up on the request.
	silent func(n int) bool
}

func newReceiver(t testing.TB) *receiver {
	rc := &receiver{t: t}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) url() string { return rc.srv.URL + "/events/eventgrid" }

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 2<<20))
	rr := received{Method: r.Method, Header: r.Header.Clone(), Query: r.URL.Query(), Body: body, At: time.Now()}
	rr.ContentType, _, _ = mime.ParseMediaType(r.Header.Get("Content-Type"))
	if r.Method == http.MethodOptions {
		rc.optionsHandshake(w, rr)
		return
	}
	if r.Header.Get("aeg-event-type") == "SubscriptionValidation" {
		rc.validationHandshake(w, rr)
		return
	}
	events, err := decodeEvents(rr.ContentType, body)
	if err != nil {
		rc.t.Errorf("receiver: %v", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rr.Events = events
	rc.mu.Lock()
	n, gate, answer := len(rc.notes), rc.gate, rc.answer
	if rc.silent != nil && rc.silent(n) {
		gate = make(chan struct{}) // never closed
	}
	rc.notes = append(rc.notes, rr)
	rc.events += len(events)
	rc.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	status := http.StatusOK
	if answer != nil {
		status = answer(n)
	}
	w.WriteHeader(status)
}

func (rc *receiver) optionsHandshake(w http.ResponseWriter, rr received) {
	rc.mu.Lock()
	rc.handshakes = append(rc.handshakes, rr)
	refuse := rc.refuse
	rc.mu.Unlock()
	switch refuse {
	case "":
		w.Header().Set("WebHook-Allowed-Origin", rr.Header.Get("WebHook-Request-Origin"))
		w.Header().Set("WebHook-Allowed-Rate", "*")
		w.Header().Set("Allow", "POST")
	case "405":
		w.WriteHeader(http.StatusMethodNotAllowed)
	case "other-origin":
		w.Header().Set("WebHook-Allowed-Origin", "example.com")
	}
}

func (rc *receiver) validationHandshake(w http.ResponseWriter, rr received) {
	rc.mu.Lock()
	rc.handshakes = append(rc.handshakes, rr)
	refuse := rc.refuse
	rc.mu.Unlock()
	var events []gridIn
	if err := strictDecode(rr.Body, &events); err != nil || len(events) != 1 {
		rc.t.Errorf("validation event: %v (%d events)", err, len(events))
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	var data struct{ ValidationCode, ValidationURL string }
	_ = json.Unmarshal(events[0].Data, &data)
	code := data.ValidationCode
	switch refuse {
	case "wrong-code":
		code = "not-the-code"
	case "202":
		w.WriteHeader(http.StatusAccepted)
		return
	case "capital":
		writeJSON(w, http.StatusOK, map[string]string{"ValidationResponse": code})
		return
	case "401":
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"validationResponse": code})
}

func (rc *receiver) setAnswer(f func(int) int) { rc.set(func() { rc.answer = f }) }

// set changes the receiver's configuration under its lock.
func (rc *receiver) set(f func()) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	f()
}

// decodeEvents decodes a notification by its content type.
func decodeEvents(contentType string, body []byte) ([]eventIn, error) {
	switch contentType {
	case "application/json":
		var grid []gridIn
		if err := strictDecode(body, &grid); err != nil {
			return nil, err
		}
		out := make([]eventIn, len(grid))
		for i, g := range grid {
			out[i] = eventIn{ID: g.ID, Type: g.EventType, Subject: g.Subject, Source: g.Topic}
			if err := strictDecode(g.Data, &out[i].Data); err != nil {
				return nil, err
			}
		}
		return out, nil
	case "application/cloudevents+json":
		return decodeCloudEvents(body, false)
	case "application/cloudevents-batch+json":
		return decodeCloudEvents(body, true)
	}
	return nil, fmt.Errorf("content type %q", contentType)
}

func decodeCloudEvents(body []byte, batch bool) ([]eventIn, error) {
	var ces []ceIn
	if batch {
		if err := strictDecode(body, &ces); err != nil {
			return nil, err
		}
	} else {
		ces = make([]ceIn, 1)
		if err := strictDecode(body, &ces[0]); err != nil {
			return nil, err
		}
	}
	out := make([]eventIn, len(ces))
	for i, c := range ces {
		if c.SpecVersion != "1.0" {
			return nil, fmt.Errorf("specversion %q", c.SpecVersion)
		}
		out[i] = eventIn{ID: c.ID, Type: c.Type, Subject: c.Subject, Source: c.Source}
		if err := strictDecode(c.Data, &out[i].Data); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func strictDecode(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

// notifications returns the notifications received so far.
func (rc *receiver) notifications() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.notes...)
}

func (rc *receiver) handshakeRequests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.handshakes...)
}

// eventCount is how many events the notifications so far carried.
func (rc *receiver) eventCount() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.events
}

// eventIDs are the ids of every event received, in order of arrival.
func (rc *receiver) eventIDs() []string {
	var ids []string
	for _, n := range rc.notifications() {
		for _, ev := range n.Events {
			ids = append(ids, ev.ID)
		}
	}
	return ids
}

// waitFor polls cond until it holds, or fails the test after five
// minutes: it returns as soon as cond holds, so the bound only ends a
// test that would otherwise wait forever (one minute was reached: 10,004
// events delivered over TLS beside a CPU hog, three builds and the race
// tests).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

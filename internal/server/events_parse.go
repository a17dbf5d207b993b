package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strings"
	"time"
)

// The two delivery schemas of Event Grid
// (learn.microsoft.com/azure/event-grid/event-schema,
// learn.microsoft.com/azure/event-grid/cloud-event-schema): the Event Grid
// schema is always a JSON array; CloudEvents 1.0 is one structured event
// (application/cloudevents+json) or a batch, a JSON array
// (application/cloudevents-batch+json), per the CloudEvents JSON format
// (github.com/cloudevents/spec/blob/v1.0.2/cloudevents/formats/json-format.md).
const (
	SchemaEventGrid   = "eventgrid"
	SchemaCloudEvents = "cloudevents"
	schemaUnknown     = "unknown"
)

// Event types keysync reads (learn.microsoft.com/azure/event-grid/event-schema-subscriptions).
const (
	eventValidation    = "Microsoft.EventGrid.SubscriptionValidationEvent"
	eventActionSuccess = "Microsoft.Resources.ResourceActionSuccess"
	eventWriteSuccess  = "Microsoft.Resources.ResourceWriteSuccess"
)

// Bounds of one event's fields, far above what Azure sends.
const (
	maxEventID   = 256
	maxEventText = 2048
)

// event is what keysync reads of one event in either schema; the rest of
// the event (claims, httpRequest, authorization) is never decoded.
type event struct {
	ID      string
	Type    string
	Subject string
	Time    time.Time
	Data    eventData
}

// eventData is the data of a resource event
// (learn.microsoft.com/azure/event-grid/event-schema-subscriptions#data-object)
// and of the validation event.
type eventData struct {
	OperationName  string `json:"operationName"`
	Status         string `json:"status"`
	ResourceURI    string `json:"resourceUri"`
	ValidationCode string `json:"validationCode"`
}

// wireEvent holds both schemas' names: Event Grid's id, eventType,
// subject, eventTime, data; CloudEvents' id, type, subject, time, data,
// specversion.
type wireEvent struct {
	ID          string          `json:"id"`
	EventType   string          `json:"eventType"`
	Type        string          `json:"type"`
	SpecVersion string          `json:"specversion"`
	Subject     string          `json:"subject"`
	EventTime   string          `json:"eventTime"`
	Time        string          `json:"time"`
	Data        json.RawMessage `json:"data"`
}

// deliverySchema is the schema a request's Content-Type names, and
// whether its body is a batch (an array).
func deliverySchema(contentType string) (schema string, batch bool, err error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if contentType == "" {
		mt, err = "application/json", nil
	}
	switch {
	case err != nil:
		return schemaUnknown, false, fmt.Errorf("unreadable Content-Type")
	case mt == "application/json":
		return SchemaEventGrid, true, nil
	case mt == "application/cloudevents+json":
		return SchemaCloudEvents, false, nil
	case mt == "application/cloudevents-batch+json":
		return SchemaCloudEvents, true, nil
	}
	return schemaUnknown, false, fmt.Errorf("Content-Type %.64q is neither application/json (Event Grid schema) nor application/cloudevents+json or application/cloudevents-batch+json", mt)
}

// parseEvents decodes a delivery's body: at most maxEvents events, each
// checked. Its errors are one line and quote nothing of the body beyond a
// bounded field.
func parseEvents(body []byte, schema string, batch bool, maxEvents int) ([]event, error) {
	var wire []wireEvent
	if batch {
		if t := bytes.TrimLeft(body, " \t\r\n"); len(t) == 0 || t[0] != '[' {
			return nil, errors.New("the body must be a JSON array of events")
		}
		if n := countEvents(body, maxEvents); n > maxEvents {
			return nil, fmt.Errorf("%w: more than %d events", errTooMany, maxEvents)
		}
	} else {
		wire = make([]wireEvent, 1)
	}
	var err error
	if batch {
		err = json.Unmarshal(body, &wire)
	} else {
		err = json.Unmarshal(body, &wire[0])
	}
	if err != nil {
		return nil, fmt.Errorf("the body is not valid JSON events: %s", jsonReason(err))
	}
	if len(wire) == 0 {
		return nil, errors.New("the batch holds no event")
	}
	out := make([]event, 0, len(wire))
	for i := range wire {
		ev, err := wire[i].check(schema)
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
		out = append(out, ev)
	}
	return out, nil
}

var errTooMany = errors.New("too many events")

// countEvents counts the top-level elements of a JSON array, stopping past
// limit, so that a batch too long is refused before it is decoded.
func countEvents(body []byte, limit int) int {
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil {
		return 0
	}
	n := 0
	for dec.More() && n <= limit {
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return n
		}
		n++
	}
	return n
}

// jsonReason is a decode error's kind, without the bytes it quotes.
func jsonReason(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %.64q must be %s", te.Field, te.Type)
	}
	return "unreadable"
}

// check turns a decoded event into an event, refusing one that lacks what
// the schema requires or has fields beyond the bounds.
func (w *wireEvent) check(schema string) (event, error) {
	ev := event{ID: w.ID, Subject: w.Subject, Type: w.EventType}
	ts := w.EventTime
	if schema == SchemaCloudEvents {
		ev.Type, ts = w.Type, w.Time
		if w.SpecVersion != "1.0" {
			return event{}, fmt.Errorf("specversion must be 1.0, got %.16q", w.SpecVersion)
		}
	}
	switch {
	case ev.ID == "" || len(ev.ID) > maxEventID:
		return event{}, fmt.Errorf("id must be 1 to %d bytes", maxEventID)
	case ev.Type == "" || len(ev.Type) > maxEventText:
		return event{}, errors.New("the event type is missing")
	case len(ev.Subject) > maxEventText:
		return event{}, fmt.Errorf("subject longer than %d bytes", maxEventText)
	}
	if ts != "" {
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return event{}, errors.New("the event time is not an RFC 3339 time")
		}
		ev.Time = t
	}
	if len(w.Data) > 0 && !bytes.Equal(w.Data, []byte("null")) {
		if err := json.Unmarshal(w.Data, &ev.Data); err != nil {
			return event{}, fmt.Errorf("data: %s", jsonReason(err))
		}
	}
	if len(ev.Data.OperationName) > maxEventText || len(ev.Data.ResourceURI) > maxEventText || len(ev.Data.Status) > 64 || len(ev.Data.ValidationCode) > maxEventText {
		return event{}, errors.New("data field longer than its bound")
	}
	return ev, nil
}

// resource is the event's resource id: data.resourceUri, else the subject.
func (ev *event) resource() string {
	if ev.Data.ResourceURI != "" {
		return ev.Data.ResourceURI
	}
	return ev.Subject
}

// isValidation reports whether ev is Event Grid's validation handshake.
func (ev *event) isValidation() bool { return strings.EqualFold(ev.Type, eventValidation) }

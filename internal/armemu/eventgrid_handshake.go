package armemu

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// handshakeTimeout: "The http request must complete within 30 seconds"
// (webhook-event-delivery).
const handshakeTimeout = 30 * time.Second

// validationTopicSubscription names the topic of a validation event: an
// event subscription of the emulator covers every Azure subscription.
const validationTopicSubscription = "00000000-0000-0000-0000-000000000000"

// handshake proves the endpoint wants the subscription's events, in the
// way of its schema.
func (s *egSub) handshake(ctx context.Context, e *Emulator) error {
	ctx, cancel := context.WithTimeout(ctx, min(handshakeTimeout, s.cfg.Timeout))
	defer cancel()
	if s.cfg.Schema == SchemaCloudEvents {
		return s.abuseProtection(ctx, e)
	}
	return s.validationEvent(ctx, e)
}

// validationEvent is the Event Grid schema's handshake
// (webhook-event-delivery): POST an array holding only a
// Microsoft.EventGrid.SubscriptionValidationEvent, with aeg-event-type
// SubscriptionValidation; the endpoint must answer 200 (not 202) with
// {"validationResponse": validationCode}. The request carries the query,
// the static headers and the Entra token as deliveries do.
func (s *egSub) validationEvent(ctx context.Context, e *Emulator) error {
	code := newUUID()
	ev := gridEvent{ID: newUUID(), Topic: "/subscriptions/" + validationTopicSubscription, Subject: "",
		EventType: EventSubscriptionValidation, EventTime: time.Now().UTC().Format(time.RFC3339Nano),
		MetadataVersion: metadataVersion, DataVersion: "1",
		Data: map[string]string{"validationCode": code,
			"validationUrl": e.URL() + "/_emulator/eventgrid/validate?id=" + code}}
	body, err := json.Marshal([]gridEvent{ev})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.target(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	s.setHeaders(e, req.Header, "SubscriptionValidation", 0)
	req.Header.Set("aeg-data-version", "1")
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("no answer: %w", unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d, want 200 (202 is not a validation response)", resp.StatusCode)
	}
	return checkValidationResponse(resp.Body, code)
}

// checkValidationResponse reads {"validationResponse": code}, the name
// spelt exactly so (a "ValidationResponse" does not validate: MicrosoftDocs
// azure-docs issue 66226).
func checkValidationResponse(r io.Reader, code string) error {
	var answer map[string]json.RawMessage
	if err := json.NewDecoder(io.LimitReader(r, egMaxAnswer)).Decode(&answer); err != nil {
		return errors.New("the answer is not a JSON object")
	}
	raw, ok := answer["validationResponse"]
	if !ok {
		return errors.New(`the answer has no "validationResponse" (manual validation through validationUrl is not emulated)`)
	}
	var got string
	if json.Unmarshal(raw, &got) != nil || got != code {
		return errors.New("validationResponse is not the validationCode sent")
	}
	return nil
}

// abuseProtection is CloudEvents' handshake, which Event Grid uses "in
// place of the Event Grid validation event mechanism" for the CloudEvents
// schema (webhook-event-delivery): OPTIONS with WebHook-Request-Origin;
// consent is a WebHook-Allowed-Origin of that origin or "*", whatever the
// status (http-webhook.md 4.2: "the handshake cannot rely on status
// codes"), though a status outside 2xx is refused here too. A
// WebHook-Allowed-Rate in requests per minute paces the deliveries.
func (s *egSub) abuseProtection(ctx context.Context, e *Emulator) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodOptions, s.target(), http.NoBody)
	if err != nil {
		return err
	}
	s.setHeaders(e, req.Header, "SubscriptionValidation", 0)
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("no answer: %w", unwrapURLError(err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, egMaxAnswer))
	origin := resp.Header.Get("WebHook-Allowed-Origin")
	switch {
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return fmt.Errorf("OPTIONS answered status %d", resp.StatusCode)
	case origin != eventGridOrigin && origin != "*":
		return fmt.Errorf("WebHook-Allowed-Origin is %q, want %q or \"*\"", truncate(origin, 64), eventGridOrigin)
	}
	if rate, err := strconv.Atoi(resp.Header.Get("WebHook-Allowed-Rate")); err == nil && rate > 0 {
		s.minGap = time.Minute / time.Duration(rate)
	}
	return nil
}

func truncate(v string, n int) string {
	if len(v) <= n {
		return v
	}
	return strings.ToValidUTF8(v[:n], "") + "..."
}

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keysync/keysync/internal/armemu"
	"github.com/keysync/keysync/internal/testenv"
)

const eventsPath = "/events/eventgrid"

// eventsSecret writes a shared secret file and returns the [events] keys
// (dotted, so they may sit among the top-level keys) and the secret.
func eventsSecret(t *testing.T) (string, string) {
	t.Helper()
	secret := fmt.Sprintf("e2e-events-secret-%d-%d", time.Now().UnixNano(), seq.Add(1))
	path := filepath.Join(t.TempDir(), "events-secret")
	must(t, os.WriteFile(path, []byte(secret+"\n"), 0o600))
	return fmt.Sprintf("events.enabled = true\nevents.secret_file = %q\nevents.secret_header = \"X-Keysync-Secret\"\nevents.secret_query = \"code\"\nevents.max_body_bytes = 8192\n", path), secret
}

// eventsDaemon runs keysync with an hourly schedule and the webhook on.
func eventsDaemon(t *testing.T, top string, accts ...account) *daemonProc {
	t.Helper()
	d := startDaemon(t, func(addr string) string {
		return strings.Replace(daemonConfig(addr, top, accts...), `"@every 1s"`, `"@every 1h"`, 1)
	})
	for _, a := range accts {
		d.waitFor("the first sync of "+a.name, 10*time.Second, func() bool { return readV2(t, a.path) != nil })
	}
	return d
}

// resourceID is the account's ARM id as Event Grid names it.
func (a account) resourceID() string {
	return fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Batch/batchAccounts/%s", a.sub, a.rg, a.name)
}

// gridEvent is an Event Grid schema event about a's operation op.
func (a account) gridEvent(id, op string) map[string]any {
	return map[string]any{"id": id, "eventType": "Microsoft.Resources.ResourceActionSuccess", "subject": a.resourceID(),
		"eventTime": time.Now().UTC().Format(time.RFC3339Nano), "dataVersion": "2", "metadataVersion": "1", "topic": "/subscriptions/" + a.sub,
		"data": map[string]any{"operationName": op, "status": "Succeeded", "resourceUri": a.resourceID(), "subscriptionId": a.sub}}
}

// cloudEvent is ev in the CloudEvents 1.0 schema.
func cloudEvent(ev map[string]any) map[string]any {
	return map[string]any{"specversion": "1.0", "id": ev["id"], "type": ev["eventType"], "source": ev["topic"], "subject": ev["subject"], "time": ev["eventTime"], "data": ev["data"]}
}

const regenerateOp = "Microsoft.Batch/batchAccounts/regenerateKeys/action"

// deliver posts body to the webhook with contentType and the secret (when
// set) in the header, and returns the status and body.
func (d *daemonProc) deliver(contentType, secret string, body []byte) (int, string) {
	d.t.Helper()
	if secret == "" {
		return d.deliverWith(contentType, body, "", "")
	}
	return d.deliverWith(contentType, body, "X-Keysync-Secret", secret)
}

// deliverWith posts body to the webhook with contentType and header set
// to value (when named), and returns the status and body.
func (d *daemonProc) deliverWith(contentType string, body []byte, header, value string) (int, string) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), httpBound)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+d.addr+eventsPath, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	if header != "" {
		req.Header.Set(header, value)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatalf("POST %s: %v", eventsPath, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func jsonOf(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	must(t, err)
	return b
}

// TestEventsRegenerateReachesVault: with an hourly schedule, a
// regenerate announced in either schema reaches Vault, through one
// listKeys call each: no tick can come in the hour, so the event is what
// syncs it. (How fast is bench/'s question, not a verdict here.)
func TestEventsRegenerateReachesVault(t *testing.T) {
	shared(t)
	a := newAccount(t)
	top, secret := eventsSecret(t)
	d := eventsDaemon(t, top, a)
	tests := []struct {
		name, contentType string
		body              func(ev map[string]any) any
	}{
		{"event grid schema", "application/json", func(ev map[string]any) any { return []any{ev} }},
		{"cloudevents structured", "application/cloudevents+json; charset=utf-8", func(ev map[string]any) any { return cloudEvent(ev) }},
		{"cloudevents batch", "application/cloudevents-batch+json", func(ev map[string]any) any { return []any{cloudEvent(ev)} }},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := a.requests()
			a.regenerate(t, "primary")
			p, _ := a.keys(t)
			if code, body := d.deliver(tt.contentType, secret, jsonOf(t, tt.body(a.gridEvent(fmt.Sprint("regen-", i), regenerateOp)))); code != http.StatusOK {
				t.Fatalf("delivery: %d %s", code, body)
			}
			d.waitFor("the new key in Vault", 5*time.Second, func() bool { return fieldOf(t, a.path, "primary") == p })
			if n := a.requests() - before; n != 1 {
				t.Errorf("%d listKeys calls for one event, want 1", n)
			}
		})
	}
	if n := d.metric(`keysync_events_total{outcome="queued",schema="cloudevents"}`); n != 2 {
		t.Errorf("keysync_events_total queued cloudevents = %v, want 2", n)
	}
	if n := d.metric("keysync_event_to_write_seconds_count"); n != 3 {
		t.Errorf("event-to-write latency observed %v times, want 3", n)
	}
}

// TestEventsRefusedDeliveriesWriteNothing: unauthenticated, oversized,
// malformed, duplicate, irrelevant and unmanaged deliveries sync nothing:
// no listKeys call, no Vault write. A later good event for another account
// proves the daemon handled them before the check.
func TestEventsRefusedDeliveriesWriteNothing(t *testing.T) {
	shared(t)
	a, b := newAccount(t), newAccount(t)
	top, secret := eventsSecret(t)
	d := eventsDaemon(t, top, a, b)
	good := jsonOf(t, []any{a.gridEvent("first", regenerateOp)})
	if code, body := d.deliver("application/json", secret, good); code != http.StatusOK {
		t.Fatalf("first delivery: %d %s", code, body)
	}
	d.waitFor("the first event's sync", 5*time.Second, func() bool { return d.syncs(a.name) == 2 })
	before, version := a.requests(), readV2(t, a.path).version
	unmanaged := a.gridEvent("unmanaged", regenerateOp)
	unmanaged["data"].(map[string]any)["resourceUri"] = strings.Replace(a.resourceID(), a.name, "nosuchacct", 1)
	tests := []struct {
		name, secret string
		body         []byte
		status       int
	}{
		{"no secret", "", good, http.StatusUnauthorized},
		{"wrong secret", secret + "x", good, http.StatusUnauthorized},
		{"oversized", secret, append([]byte("["), bytes.Repeat([]byte(" "), 9000)...), http.StatusRequestEntityTooLarge},
		{"malformed", secret, []byte(`[{"id":`), http.StatusBadRequest},
		{"duplicate", secret, good, http.StatusOK},
		{"listKeys", secret, jsonOf(t, []any{a.gridEvent("list", "Microsoft.Batch/batchAccounts/listKeys/action")}), http.StatusOK},
		{"unmanaged", secret, jsonOf(t, []any{unmanaged}), http.StatusOK},
	}
	for _, tt := range tests {
		if code, body := d.deliver("application/json", tt.secret, tt.body); code != tt.status {
			t.Errorf("%s: status %d (%s), want %d", tt.name, code, body, tt.status)
		}
	}
	if code, body := d.deliver("application/json", secret, jsonOf(t, []any{b.gridEvent("for-b", regenerateOp)})); code != http.StatusOK {
		t.Fatalf("delivery for b: %d %s", code, body)
	}
	d.waitFor("b's event sync", 5*time.Second, func() bool { return d.syncs(b.name) == 2 })
	if n := a.requests() - before; n != 0 {
		t.Errorf("%d listKeys calls after refused and dropped deliveries, want 0", n)
	}
	if v := readV2(t, a.path).version; v != version {
		t.Errorf("Vault version %d after refused deliveries, want %d", v, version)
	}
	if n := d.metric(`keysync_events_total{outcome="unauthorized",schema="eventgrid"}`); n != 2 {
		t.Errorf("unauthorized deliveries counted %v, want 2", n)
	}
}

// TestEventsSyncOneAccountByHand: POST /sync?account= with the API token
// syncs that one account by resource id (any case) or path, and nothing
// else; an unknown account is 404.
func TestEventsSyncOneAccountByHand(t *testing.T) {
	shared(t)
	a, b := newAccount(t), newAccount(t)
	top, tok := apiToken(t)
	d := eventsDaemon(t, top+"\n", a, b)
	a.regenerate(t, "secondary")
	_, s := a.keys(t)
	beforeB := b.requests()
	if code, _, body := d.call("POST", "/sync?account="+strings.ToUpper(a.resourceID()), tok); code != http.StatusAccepted {
		t.Fatalf("POST /sync?account=: %d %s", code, body)
	}
	d.waitFor("the new key in Vault", 5*time.Second, func() bool { return fieldOf(t, a.path, "secondary") == s })
	if code, _, body := d.call("POST", "/sync?account="+b.path, tok); code != http.StatusAccepted {
		t.Fatalf("POST /sync?account=path: %d %s", code, body)
	}
	d.waitFor("b's sync", 5*time.Second, func() bool { return d.syncs(b.name) == 2 })
	if n := b.requests() - beforeB; n != 1 {
		t.Errorf("%d listKeys calls of b for one request by path, want 1", n)
	}
	if code, _, _ := d.call("POST", "/sync?account=azure/none", tok); code != http.StatusNotFound {
		t.Errorf("unknown account: %d, want 404", code)
	}
	if code, _, _ := d.call("POST", "/sync?account="+b.path, ""); code != http.StatusUnauthorized {
		t.Errorf("without the token: %d, want 401", code)
	}
}

// TestEventsRefusesUnsafeSecretFile: a shared secret file others can
// read, the current or the next one, stops the daemon at start (exit 2)
// before it calls ARM, and the error names the file's problem without
// quoting the secret.
func TestEventsRefusesUnsafeSecretFile(t *testing.T) {
	shared(t)
	for _, key := range []string{"secret_file", "next_secret_file"} {
		t.Run(key, func(t *testing.T) {
			a := newAccount(t)
			secret := "0123456789abcdef-open-secret"
			path := filepath.Join(t.TempDir(), "events-secret")
			must(t, os.WriteFile(path, []byte(secret), 0o644))
			addr, err := testenv.FreeAddr()
			must(t, err)
			top := fmt.Sprintf("events.enabled = true\nevents.secret_file = %q\nevents.secret_header = \"X-Keysync-Secret\"\n", path)
			if key == "next_secret_file" {
				good, _ := eventsSecret(t)
				top = good + fmt.Sprintf("events.next_secret_file = %q\n", path)
			}
			r := run(t, idleDaemonConfig(addr, top, a))
			r.expect(t, 2)
			if !strings.Contains(r.stderr, "events "+key) || !strings.Contains(r.stderr, "others can read or change it") || strings.Contains(r.stderr, secret) {
				t.Fatalf("stderr lacks the secret file's problem or quotes the secret:\n%s", r.stderr)
			}
			if a.requests() != 0 {
				t.Fatal("the daemon synced before refusing its secret file")
			}
		})
	}
}

// TestEventsNextSecretFromEmulator: while the subscription changes over to
// the next shared secret, Event Grid's deliveries carrying it are
// accepted beside those carrying the current one: a regenerate reaches
// Vault through each, with an hourly schedule.
func TestEventsNextSecretFromEmulator(t *testing.T) {
	shared(t)
	top, current := eventsSecret(t)
	next := current + "-next"
	path := filepath.Join(t.TempDir(), "events-secret-next")
	must(t, os.WriteFile(path, []byte(next+"\n"), 0o600))
	a := newAccount(t)
	d := eventsDaemon(t, top+fmt.Sprintf("events.next_secret_file = %q\n", path), a)
	for i, secret := range []string{next, current} {
		sub := armemu.EventSubscription{Name: fmt.Sprintf("keysync-e2e-next-%d-%d", i, seq.Add(1)), Headers: map[string]string{"X-Keysync-Secret": secret},
			SubjectBeginsWith: a.resourceID(), SubjectEndsWith: "/" + a.name, IncludedOperations: []string{regenerateOp}}
		subscribe(t, d, sub)
		a.regenerate(t, "primary")
		p, _ := a.keys(t)
		d.waitFor("the new key in Vault", 5*time.Second, func() bool { return fieldOf(t, a.path, "primary") == p })
		emu.Unsubscribe(sub.Name)
	}
}

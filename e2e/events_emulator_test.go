package e2e

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keysync/keysync/internal/armemu"
	"github.com/keysync/keysync/sources"
)

// entraEvents is the [events.entra] keys trusting the emulator's tenant:
// its keys URL, and its issuers when explicit (else the defaults of
// Azure public, which the emulator's tokens name).
func entraEvents(audience string, explicit bool) string {
	tenant, issuer, keys := emu.EntraTenant()
	s := fmt.Sprintf("events.enabled = true\nevents.entra.tenant = %q\nevents.entra.audience = %q\nevents.entra.keys_url = %q\n", tenant, audience, keys)
	if explicit {
		s += fmt.Sprintf("events.entra.issuers = [%q, %q]\n", issuer, emu.EntraIssuer(armemu.EntraV2))
	}
	return s
}

// subscribe creates an emulator event subscription delivering to d's
// webhook; it is deleted when the test ends. The subscription should
// filter on the test's own subjects (SubjectBeginsWith): the emulator is
// every test's Azure. Unless s says otherwise, it tries a delivery 3
// times, the retries 100 ms and 300 ms later.
func subscribe(t *testing.T, d *daemonProc, s armemu.EventSubscription) {
	t.Helper()
	s.Endpoint = "http://" + d.addr + eventsPath
	s.MaxDeliveryAttempts = cmp.Or(s.MaxDeliveryAttempts, 3)
	s.RetryBase = cmp.Or(s.RetryBase, 100*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), httpBound)
	defer cancel()
	if err := emu.Subscribe(ctx, s); err != nil {
		t.Fatalf("subscribe: %v\nstderr:\n%s", err, d.stderr.String())
	}
	t.Cleanup(func() { emu.Unsubscribe(s.Name) })
}

// TestEventsFromEmulator: with an hourly schedule, a regenerate in the
// emulator reaches Vault through its Event Grid delivery, in each schema
// and with each authentication, after the real handshake. The deliveries
// include keysync's own listKeys events (no filter on the operation, only
// on the account): they must not make it sync again.
func TestEventsFromEmulator(t *testing.T) {
	shared(t)
	tests := []struct {
		name string
		top  func(t *testing.T) (string, armemu.EventSubscription)
	}{
		{"event grid schema, secret header", func(t *testing.T) (string, armemu.EventSubscription) {
			top, secret := eventsSecret(t)
			return top, armemu.EventSubscription{Schema: armemu.SchemaEventGrid, Headers: map[string]string{"X-Keysync-Secret": secret}}
		}},
		{"cloudevents structured, entra with the default issuers", func(t *testing.T) (string, armemu.EventSubscription) {
			return entraEvents("api://keysync-e2e", false), armemu.EventSubscription{Schema: armemu.SchemaCloudEvents, EntraAudience: "api://keysync-e2e"}
		}},
		{"cloudevents batched, secret query and entra v2", func(t *testing.T) (string, armemu.EventSubscription) {
			top, secret := eventsSecret(t)
			top = strings.Replace(top, "events.enabled = true\n", "", 1) + entraEvents("api://keysync-e2e", true)
			return top, armemu.EventSubscription{Schema: armemu.SchemaCloudEvents, Batched: true, MaxEventsPerBatch: 10,
				Query: map[string]string{"code": secret}, EntraAudience: "api://keysync-e2e", EntraTokenVersion: armemu.EntraV2}
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := newAccount(t)
			top, sub := tt.top(t)
			d := eventsDaemon(t, top, a)
			sub.Name, sub.SubjectBeginsWith, sub.SubjectEndsWith = fmt.Sprintf("keysync-e2e-%d-%d", i, seq.Add(1)), a.resourceID(), "/"+a.name
			subscribe(t, d, sub)
			before := a.requests()
			a.regenerate(t, "primary")
			p, _ := a.keys(t)
			d.waitFor("the new key in Vault", 5*time.Second, func() bool { return fieldOf(t, a.path, "primary") == p })
			// keysync's own listKeys raised an event too; once it is
			// delivered, no further sync may follow.
			d.waitFor("two deliveries answered 200", 5*time.Second, func() bool { return okDeliveries(sub.Name) >= 2 })
			d.waitFor("the listKeys event counted", 5*time.Second, func() bool {
				return d.metric(fmt.Sprintf(`keysync_events_total{outcome="irrelevant",schema=%q}`, schemaLabel(sub.Schema))) >= 1
			})
			if n := a.requests() - before; n != 1 {
				t.Errorf("%d listKeys calls for one regenerate, want 1", n)
			}
			if v := readV2(t, a.path).version; v != 2 {
				t.Errorf("Vault version %d, want 2", v)
			}
		})
	}
}

func schemaLabel(s string) string {
	if s == armemu.SchemaCloudEvents {
		return "cloudevents"
	}
	return "eventgrid"
}

// okDeliveries counts the subscription's deliveries answered 200.
func okDeliveries(name string) int {
	n := 0
	for _, dl := range emu.Deliveries(name) {
		if dl.Status == http.StatusOK {
			n++
		}
	}
	return n
}

// TestEventsFromEmulatorRefused: a subscription without the secret or
// with a token for another audience fails its handshake (401), and
// redelivered events (same id) sync once.
func TestEventsFromEmulatorRefused(t *testing.T) {
	shared(t)
	a := newAccount(t)
	top, secret := eventsSecret(t)
	d := eventsDaemon(t, top, a)
	n := seq.Add(1)
	for _, s := range []armemu.EventSubscription{
		{Name: fmt.Sprintf("keysync-e2e-nosecret-%d", n), Schema: armemu.SchemaEventGrid},
		{Name: fmt.Sprintf("keysync-e2e-wrongsecret-%d", n), Schema: armemu.SchemaCloudEvents, Headers: map[string]string{"X-Keysync-Secret": secret + "x"}},
	} {
		s.Endpoint = "http://" + d.addr + eventsPath
		if err := emu.Subscribe(context.Background(), s); err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("%s: subscribe error %v, want the handshake refused with 401", s.Name, err)
		}
	}
	name := fmt.Sprintf("keysync-e2e-dup-%d", seq.Add(1))
	subscribe(t, d, armemu.EventSubscription{Name: name, Schema: armemu.SchemaEventGrid, Headers: map[string]string{"X-Keysync-Secret": secret},
		IncludedOperations: []string{regenerateOp}, SubjectBeginsWith: a.resourceID(), SubjectEndsWith: "/" + a.name})
	before := a.requests()
	for range 3 {
		emu.PublishEvent(armemu.ResourceEvent{ID: "same-event", ResourceURI: a.resourceID(), OperationName: regenerateOp})
	}
	d.waitFor("three deliveries answered 200", 5*time.Second, func() bool { return okDeliveries(name) >= 3 })
	d.waitFor("the sync", 5*time.Second, func() bool { return d.syncs(a.name) == 2 })
	if n := d.metric(`keysync_events_total{outcome="duplicate",schema="eventgrid"}`); n != 2 {
		t.Errorf("duplicates counted %v, want 2", n)
	}
	if n := a.requests() - before; n != 1 {
		t.Errorf("%d listKeys calls for one event delivered three times, want 1", n)
	}
}

// TestEventsEveryType: for each of the ten types, the emulator's
// regenerate event (spelt from its own spec table) reaches Vault through
// the webhook with an hourly schedule; and switching key authentication
// off on an Event Hubs namespace (a write of the namespace, not of the
// rule) makes keysync sync the rule at once and see the failure.
func TestEventsEveryType(t *testing.T) {
	shared(t)
	top, secret := eventsSecret(t)
	var res []armemu.Resource
	var paths []string
	var accts strings.Builder
	rg := fmt.Sprintf("rg-events%d", seq.Add(1)) // the test's own, for the subscription's filter
	for _, typ := range sources.TypeNames() {
		n := seq.Add(1)
		r := armemu.Resource{Subscription: subscription, ResourceGroup: rg, Type: typ, Name: fmt.Sprintf("%s%dev", strings.ToLower(typ[:1])+"res", n)}
		if armemu.Types[typ].Child != "" {
			// A rule name under 16 characters: the connection strings
			// hold it, and the logs' account label too.
			r.Name, r.Rule = fmt.Sprintf("ns%04devt", n), "send"
		}
		emu.Add(r)
		res, paths = append(res, r), append(paths, fmt.Sprintf("azure/events/%s/%s", typ, strings.ToLower(r.Name)))
		accts.WriteString(resourceConfig(r, paths[len(paths)-1], ""))
	}
	d := startDaemon(t, func(addr string) string {
		return strings.Replace(daemonConfig(addr, top), `"@every 1s"`, `"@every 1h"`, 1) + accts.String()
	})
	for _, p := range paths {
		d.waitFor("the first sync of "+p, 10*time.Second, func() bool { return readV2(t, p) != nil })
	}
	subscribe(t, d, armemu.EventSubscription{Name: fmt.Sprintf("keysync-e2e-types-%d", seq.Add(1)), Headers: map[string]string{"X-Keysync-Secret": secret},
		SubjectBeginsWith: "/subscriptions/" + subscription + "/resourceGroups/" + rg + "/"})
	for i, r := range res {
		field := armemu.Types[r.Type].Keys[0]
		after, err := emu.Regenerate(r, field)
		must(t, err)
		d.waitFor(r.Type+"'s new key in Vault", 5*time.Second, func() bool { return fieldOf(t, paths[i], field) == after.Keys[field] })
	}
	var hub armemu.Resource
	for _, r := range res {
		if r.Type == "eventhubs" {
			hub = r
		}
	}
	must(t, emu.SetKeysDisabled(hub, true))
	d.waitFor("the rule's sync to fail", 5*time.Second, func() bool {
		return d.metric(fmt.Sprintf(`keysync_sync_total{account=%q,result="failed"}`, hub.Name+"/"+hub.Rule)) == 1
	})
}

// TestEventsEntraOtherAppRefused: another application of the tenant that
// holds the webhook's role (as Microsoft's setup script grants the
// subscription's creator) gets a token the tenant signs for the same
// audience; keysync refuses its deliveries (401) in either token version
// and calls ARM for none of them. Event Grid's own token, for the same
// event, is accepted and syncs the account once.
func TestEventsEntraOtherAppRefused(t *testing.T) {
	shared(t)
	const audience, otherApp = "api://keysync-e2e", "0b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b"
	a := newAccount(t)
	d := eventsDaemon(t, entraEvents(audience, false), a)
	before := a.requests()
	ev := jsonOf(t, []any{a.gridEvent("other-app", regenerateOp)})
	for _, version := range []string{armemu.EntraV1, armemu.EntraV2} {
		tok := emu.EntraAppToken(otherApp, version, audience, time.Hour)
		if code, body := d.deliverWith("application/json", ev, "Authorization", "Bearer "+tok); code != http.StatusUnauthorized {
			t.Fatalf("delivery with a %s token of another app: %d %s, want 401", version, code, body)
		}
	}
	if code, body := d.deliverWith("application/json", ev, "Authorization", "Bearer "+emu.EntraToken(audience, time.Hour)); code != http.StatusOK {
		t.Fatalf("delivery with Event Grid's token: %d %s", code, body)
	}
	d.waitFor("the event's sync", 5*time.Second, func() bool { return d.syncs(a.name) == 2 })
	if n := a.requests() - before; n != 1 {
		t.Errorf("%d listKeys calls, want 1: only Event Grid's delivery may sync", n)
	}
	if n := d.metric(`keysync_events_total{outcome="unauthorized",schema="eventgrid"}`); n != 2 {
		t.Errorf("unauthorized deliveries counted %v, want 2", n)
	}
}

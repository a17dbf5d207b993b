package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keysync/keysync/internal/armemu"
)

// keysRefetchWindow is how long after fetching a tenant's signing keys
// keysync may not fetch them again (internal/server's jwksMinFetch),
// written here again as the behaviour the tests expect.
const keysRefetchWindow = time.Minute

// tenantEvents is the [events.entra] keys trusting the emulator's tenant
// x for audience, with the default issuers of the daemon's cloud.
func tenantEvents(x *armemu.EntraTenant, audience, appID string) string {
	s := fmt.Sprintf("events.enabled = true\nevents.entra.tenant = %q\nevents.entra.audience = %q\nevents.entra.keys_url = %q\n", x.ID(), audience, x.KeysURL())
	if appID != "" {
		s += fmt.Sprintf("events.entra.app_id = %q\n", appID)
	}
	return s
}

// deliverBearer posts body to the webhook with the bearer token tok and
// returns the status and Retry-After.
func (d *daemonProc) deliverBearer(tok string, body []byte) (int, string) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), httpBound)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+d.addr+eventsPath, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatalf("POST %s: %v", eventsPath, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

// TestEventsEntraKeyRolledIn: the tenant rolls in a new signing key right
// after keysync fetched its keys (for the subscription's handshake). A
// token signed by it, within the minute in which keysync may not fetch
// again, gets 503 with Retry-After (not 401, which Event Grid drops);
// Event Grid's delivery of the regenerate signed by it is answered 503
// and retried on Event Grid's own schedule (30 s or more after a 503)
// until keysync may fetch, then accepted: the new key reaches Vault with
// an hourly schedule, no delivery is answered 401, and one sync is made.
// How long the steps take only picks which answer is right: one within
// the minute must be 503, one after it 200.
func TestEventsEntraKeyRolledIn(t *testing.T) {
	shared(t)
	const audience = "api://keysync-e2e-rolled"
	x, err := emu.NewEntraTenant(armemu.CloudPublic) // its own keys: rolling them disturbs no other test
	must(t, err)
	a := newAccount(t)
	d := eventsDaemon(t, tenantEvents(x, audience, ""), a)
	start := time.Now() // keysync fetches the keys after this, for the handshake
	sub := armemu.EventSubscription{Name: fmt.Sprintf("keysync-e2e-rolled-%d", seq.Add(1)), EntraAudience: audience, EntraTenant: x.ID(),
		SubjectBeginsWith: a.resourceID(), SubjectEndsWith: "/" + a.name, IncludedOperations: []string{regenerateOp},
		RetryBase: 10 * time.Second, MaxDeliveryAttempts: 10} // Event Grid's own schedule: 10 s, 30 s, 1 min...
	subscribe(t, d, sub)
	x.RotateKey()
	before := a.requests()
	code, after := d.deliverBearer(x.Token(armemu.EntraV1, audience, time.Hour), jsonOf(t, []any{a.gridEvent("direct", "Microsoft.Batch/batchAccounts/listKeys/action")}))
	if within := time.Since(start) < keysRefetchWindow; within {
		if secs, err := strconv.Atoi(after); code != http.StatusServiceUnavailable || err != nil || secs < 1 || secs > 60 {
			t.Fatalf("a token of the new key within the minute: %d Retry-After %q, want 503 with 1 to 60 s", code, after)
		}
	} else if code != http.StatusOK {
		t.Fatalf("a token of the new key after the minute: %d, want 200", code)
	}
	a.regenerate(t, "primary")
	p, _ := a.keys(t)
	d.waitFor("the new key in Vault", 5*time.Minute, func() bool { return fieldOf(t, a.path, "primary") == p })
	ds := emu.Deliveries(sub.Name)
	last := ds[len(ds)-1]
	refused := func(dl armemu.Delivery) bool {
		return dl.Status != http.StatusOK && dl.Status != http.StatusServiceUnavailable
	}
	if slices.ContainsFunc(ds, refused) || last.Status != http.StatusOK {
		t.Fatalf("deliveries %+v: want 503s, then 200", ds)
	}
	if ds[0].At.Sub(start) < keysRefetchWindow && (ds[0].Status != http.StatusServiceUnavailable || last.Attempt < 2) {
		t.Fatalf("deliveries %+v: the first, within the minute, must be 503 and retried", ds)
	}
	if n := a.requests() - before; n != 1 {
		t.Errorf("%d listKeys calls, want 1", n)
	}
	for _, dl := range ds {
		t.Logf("attempt %d at +%v: %d", dl.Attempt, dl.At.Sub(start).Round(time.Second), dl.Status)
	}
}

// TestEventsEntraSovereignClouds: with [azure] cloud set to Azure
// Government or Azure China and no issuers configured, Event Grid's
// tokens of that cloud's Entra (v1.0, the default for an application, and
// v2.0) are accepted: the regenerate reaches Vault with an hourly
// schedule. keysync used to accept a v1.0 issuer in Azure public only.
func TestEventsEntraSovereignClouds(t *testing.T) {
	shared(t)
	tests := []struct{ cloud, version string }{
		{armemu.CloudUSGovernment, armemu.EntraV1},
		{armemu.CloudUSGovernment, armemu.EntraV2},
		{armemu.CloudChina, armemu.EntraV1},
		{armemu.CloudChina, armemu.EntraV2},
	}
	for _, tt := range tests {
		t.Run(tt.cloud+" v"+tt.version, func(t *testing.T) {
			t.Parallel()
			const audience = "api://keysync-e2e-cloud"
			x, err := emu.NewEntraTenant(tt.cloud)
			must(t, err)
			appID := ""
			if tt.cloud == armemu.CloudChina {
				appID = x.EventGridAppID() // Microsoft documents none: the operator copies it
			}
			a := newAccount(t)
			cloud := fmt.Sprintf("[azure]\ncloud = %q\naudience = %q\n", tt.cloud, armemu.DefaultAudience) // ARM is the emulator's
			d := startDaemon(t, func(addr string) string {
				cfg := strings.Replace(daemonConfig(addr, tenantEvents(x, audience, appID), a), "[azure]\n", cloud, 1)
				return strings.Replace(cfg, `"@every 1s"`, `"@every 1h"`, 1)
			})
			d.waitFor("the first sync", 10*time.Second, func() bool { return readV2(t, a.path) != nil })
			sub := armemu.EventSubscription{Name: fmt.Sprintf("keysync-e2e-cloud-%d", seq.Add(1)), EntraAudience: audience, EntraTenant: x.ID(),
				EntraTokenVersion: tt.version, SubjectBeginsWith: a.resourceID(), SubjectEndsWith: "/" + a.name, IncludedOperations: []string{regenerateOp}}
			subscribe(t, d, sub)
			a.regenerate(t, "primary")
			p, _ := a.keys(t)
			d.waitFor("the new key in Vault", 5*time.Second, func() bool { return fieldOf(t, a.path, "primary") == p })
		})
	}
}

package armemu

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

var guidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// tenantKeys reads a tenant's key set over the emulator's HTTPS.
func tenantKeys(t *testing.T, c *client, x *EntraTenant) jwksIn {
	t.Helper()
	var keys jwksIn
	if s := c.do(c.request(http.MethodGet, x.KeysURL(), nil), &keys); s != http.StatusOK || len(keys.Keys) == 0 {
		t.Fatalf("keys of %s: %d, %d keys", x.ID(), s, len(keys.Keys))
	}
	return keys
}

// TestEntraTenantClouds: a tenant acting as a cloud issues tokens with
// that cloud's issuers, v1.0 and v2.0, and Event Grid's application
// there, signed by keys it serves, with OpenID configurations that name
// the same issuers. The issuers are written here from Microsoft's pages,
// not from the emulator's table.
func TestEntraTenantClouds(t *testing.T) {
	c := start(t)
	tests := []struct {
		cloud, v1, v2, app string // app "" when Microsoft documents none
	}{
		{CloudPublic, "https://sts.windows.net/", "https://login.microsoftonline.com/", "4962773b-9cdb-44cf-a8bf-237846a00ab7"},
		{CloudUSGovernment, "https://sts.windows.net/", "https://login.microsoftonline.us/", "54316b56-3481-47f9-8f30-0300f5542a7b"},
		{CloudChina, "https://sts.chinacloudapi.cn/", "https://login.partner.microsoftonline.cn/", ""},
	}
	for _, tt := range tests {
		t.Run(tt.cloud, func(t *testing.T) {
			x, err := c.emu.NewEntraTenant(tt.cloud)
			if err != nil {
				t.Fatal(err)
			}
			app := x.EventGridAppID()
			if tt.app != "" && app != tt.app || tt.app == "" && (!guidRE.MatchString(app) || app == EventGridAppID) {
				t.Fatalf("Event Grid's application %q, want %q (or a tenant's own GUID)", app, tt.app)
			}
			keys := tenantKeys(t, c, x)
			for version, iss := range map[string]string{EntraV1: tt.v1 + x.ID() + "/", EntraV2: tt.v2 + x.ID() + "/v2.0"} {
				claims, err := verifyJWT(x.Token(version, "api://k", time.Hour), keys)
				client := claims["appid"]
				if version == EntraV2 {
					client = claims["azp"]
				}
				if err != nil || claims["iss"] != iss || x.Issuer(version) != iss || claims["tid"] != x.ID() || client != app || claims["ver"] != version {
					t.Errorf("%s token: %v, claims %v; want iss %s, client %s", version, err, claims, iss, app)
				}
			}
			var config struct{ Issuer string }
			c.do(c.request(http.MethodGet, c.emu.URL()+"/"+x.ID()+"/v2.0/.well-known/openid-configuration", nil), &config)
			if config.Issuer != tt.v2+x.ID()+"/v2.0" {
				t.Errorf("OpenID configuration's issuer %q", config.Issuer)
			}
		})
	}
	if _, err := c.emu.NewEntraTenant("AzureGermany"); err == nil || !strings.Contains(err.Error(), "unknown cloud") {
		t.Fatalf("an unknown cloud: %v", err)
	}
}

// TestEntraTenantRotationIsItsOwn: a tenant's key rotation changes its
// own tokens' key and set only: another tenant's tokens, the first
// tenant's included, verify as before, and no tenant's keys verify
// another's tokens.
func TestEntraTenantRotationIsItsOwn(t *testing.T) {
	c := start(t)
	a, errA := c.emu.NewEntraTenant(CloudUSGovernment)
	b, errB := c.emu.NewEntraTenant(CloudUSGovernment)
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	before := tenantKeys(t, c, a)
	b.RotateKey()
	if keys := tenantKeys(t, c, a); len(keys.Keys) != 1 || keys.Keys[0].Kid != before.Keys[0].Kid {
		t.Fatalf("a's keys changed with b's rotation: %+v", keys)
	}
	if _, err := verifyJWT(a.Token(EntraV1, "api://k", time.Hour), before); err != nil {
		t.Fatalf("a's token after b's rotation: %v", err)
	}
	bKeys := tenantKeys(t, c, b)
	if len(bKeys.Keys) != 2 {
		t.Fatalf("b publishes %d keys after a rotation, want the old and the new", len(bKeys.Keys))
	}
	if _, err := verifyJWT(b.Token(EntraV1, "api://k", time.Hour), before); err == nil {
		t.Fatal("b's token verifies against a's keys")
	}
	if _, err := verifyJWT(c.emu.EntraToken("api://k", time.Hour), bKeys); err == nil {
		t.Fatal("the first tenant's token verifies against b's keys")
	}
}

// TestEventGridSubscriptionTenant: a subscription naming a tenant carries
// that tenant's tokens, in its cloud's issuer; after the tenant rotates
// its key the next delivery carries a token signed by the new one (a key
// the webhook has not seen); a subscription naming no tenant of the
// emulator is refused.
func TestEventGridSubscriptionTenant(t *testing.T) {
	c, rc := newGrid(t)
	x, err := c.emu.NewEntraTenant(CloudUSGovernment)
	if err != nil {
		t.Fatal(err)
	}
	subscribe(t, c.emu, rc, EventSubscription{EntraAudience: "api://k", EntraTenant: x.ID()})
	publishN(c.emu, "before", 1)
	waitFor(t, "the first delivery", func() bool { return len(rc.notifications()) == 1 })
	x.RotateKey()
	publishN(c.emu, "after", 1)
	waitFor(t, "the second delivery", func() bool { return len(rc.notifications()) == 2 })
	keys := tenantKeys(t, c, x)
	var kids []string
	for _, r := range rc.notifications() {
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		claims, err := verifyJWT(tok, keys)
		if err != nil || claims["iss"] != "https://sts.windows.net/"+x.ID()+"/" || claims["appid"] != x.EventGridAppID() {
			t.Fatalf("delivery token: %v, claims %v", err, claims)
		}
		var header struct{ Kid string }
		if err := decodeSegment(strings.Split(tok, ".")[0], &header); err != nil {
			t.Fatal(err)
		}
		kids = append(kids, header.Kid)
	}
	if kids[0] == kids[1] || kids[1] != keys.Keys[len(keys.Keys)-1].Kid {
		t.Fatalf("key ids %v: want the second delivery signed by the new key %s", kids, keys.Keys[len(keys.Keys)-1].Kid)
	}
	err = c.emu.Subscribe(t.Context(), EventSubscription{Name: "sub-2", Endpoint: rc.url(), EntraAudience: "api://k", EntraTenant: "00000000-0000-0000-0000-000000000000"})
	if err == nil || !strings.Contains(err.Error(), "no Entra tenant") {
		t.Fatalf("a subscription naming no tenant: %v", err)
	}
}

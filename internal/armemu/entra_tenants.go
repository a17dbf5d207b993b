package armemu

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Clouds an Entra tenant of the emulator can act as, named as Azure's SDKs
// name them.
const (
	CloudPublic       = "AzurePublic"
	CloudUSGovernment = "AzureUSGovernment"
	CloudChina        = "AzureChina"
)

// entraCloud is what one cloud's Entra puts in the tokens Event Grid
// carries: the issuers' prefixes, followed by the tenant id and "/" in
// v1.0 tokens or "/v2.0" in v2.0 ones ("If the token issued is a v2.0
// token ... the URI ends in /v2.0": MicrosoftDocs/entra-docs
// docs/identity-platform/access-token-claims-reference.md), and Event
// Grid's application there.
type entraCloud struct {
	v1, v2    string
	eventGrid string // "" when Microsoft documents none
}

// entraClouds: the v2.0 issuers are at each cloud's Entra endpoint
// (entra-docs docs/identity-platform/authentication-national-cloud.md,
// "Microsoft Entra authentication endpoints"); the v1.0 ones are
// sts.windows.net in Azure public and Azure Government and
// sts.chinacloudapi.cn in Azure China (learn.microsoft.com/answers/questions/1190472;
// Azure/aks-engine pkg/api/defaults-apiserver.go picks the same host per
// cloud). Event Grid's application ids are the ones Microsoft's setup
// script names for "Azure Public Cloud" and "Azure Government Cloud"
// (MicrosoftDocs/azure-docs articles/event-grid/scripts/powershell-webhook-secure-delivery-microsoft-entra-app.md);
// for Azure China it names none, so each China tenant has an id of its
// own, as the portal of a real tenant would show.
var entraClouds = map[string]entraCloud{
	CloudPublic:       {v1: "https://sts.windows.net/", v2: "https://login.microsoftonline.com/", eventGrid: EventGridAppID},
	CloudUSGovernment: {v1: "https://sts.windows.net/", v2: "https://login.microsoftonline.us/", eventGrid: "54316b56-3481-47f9-8f30-0300f5542a7b"},
	CloudChina:        {v1: "https://sts.chinacloudapi.cn/", v2: "https://login.partner.microsoftonline.cn/"},
}

// EntraTenant is one of the emulator's Microsoft Entra tenants, acting as
// a cloud: its tokens carry that cloud's issuers and Event Grid
// application, its keys are served at the emulator's URL. An event
// subscription names it in EntraTenant.
type EntraTenant struct {
	e *Emulator
	t *entraTenant
}

// NewEntraTenant adds a tenant acting as cloud (CloudPublic,
// CloudUSGovernment or CloudChina), with signing keys of its own: a test
// can roll them without disturbing other tenants' webhooks.
func (e *Emulator) NewEntraTenant(cloud string) (*EntraTenant, error) {
	t, err := newEntraTenant(cloud)
	if err != nil {
		return nil, err
	}
	e.entras.Store(t.id, t)
	return &EntraTenant{e: e, t: t}, nil
}

// tenant is the tenant id, the emulator's first when id is "".
func (e *Emulator) tenant(id string) (*entraTenant, bool) {
	if id == "" {
		return e.entra, true
	}
	t, ok := e.entras.Load(id)
	if !ok {
		return nil, false
	}
	return t.(*entraTenant), true
}

// ID is the tenant id.
func (x *EntraTenant) ID() string { return x.t.id }

// Issuer is the issuer of the tenant's tokens of version EntraV1 or EntraV2.
func (x *EntraTenant) Issuer(version string) string { return x.t.issuer(version) }

// KeysURL is where the tenant's signing keys are served.
func (x *EntraTenant) KeysURL() string { return x.e.URL() + "/" + x.t.id + "/discovery/v2.0/keys" }

// EventGridAppID is Event Grid's application in the tenant's cloud, the
// client of the tokens it carries.
func (x *EntraTenant) EventGridAppID() string { return x.t.eventGrid }

// Token is an access token of version EntraV1 or EntraV2 for audience,
// valid for ttl, as Event Grid carries it.
func (x *EntraTenant) Token(version, audience string, ttl time.Duration) string {
	return x.t.mustSign(x.t.claims(version, audience, ttl))
}

// RotateKey makes a new key sign the tenant's tokens from now on, as
// RotateEntraKey does for the first tenant.
func (x *EntraTenant) RotateKey() { x.t.rotate() }

// entraFront serves every tenant's keys and OpenID configuration, v1 and
// v2, at the paths login.microsoftonline.com uses under the tenant id, and
// passes any other request to next.
func (e *Emulator) entraFront(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		t, ok := e.entras.Load(id)
		if !ok || r.Method != http.MethodGet || id == "" {
			next.ServeHTTP(w, r)
			return
		}
		if !e.entraDocument(w, t.(*entraTenant), rest) {
			http.NotFound(w, r)
		}
	})
}

// entraDocument writes the tenant's document at path rest, and reports
// whether there is one.
func (e *Emulator) entraDocument(w http.ResponseWriter, t *entraTenant, rest string) bool {
	switch rest {
	case "discovery/keys":
		writeJSON(w, http.StatusOK, t.jwks(EntraV1))
	case "discovery/v2.0/keys":
		writeJSON(w, http.StatusOK, t.jwks(EntraV2))
	case ".well-known/openid-configuration":
		writeJSON(w, http.StatusOK, t.openIDConfig(e.URL(), EntraV1))
	case "v2.0/.well-known/openid-configuration":
		writeJSON(w, http.StatusOK, t.openIDConfig(e.URL(), EntraV2))
	default:
		return false
	}
	return true
}

// cloudOf checks a cloud's name.
func cloudOf(cloud string) (entraCloud, error) {
	c, ok := entraClouds[cloud]
	if !ok {
		names := make([]string, 0, len(entraClouds))
		for n := range entraClouds {
			names = append(names, n)
		}
		slices.Sort(names)
		return entraCloud{}, fmt.Errorf("unknown cloud %q: one of %s", cloud, strings.Join(names, ", "))
	}
	return c, nil
}

package config

import (
	"path"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Events is the [events] section: the webhook that Azure Event Grid
// delivers key-change events to, so that a regenerated key reaches Vault
// in seconds instead of at the next tick (docs/events.md). Off unless
// enabled; then it needs listen and at least one way to authenticate a
// delivery: a shared secret, Entra-protected delivery, or both (then a
// delivery must pass both).
type Events struct {
	Enabled bool `toml:"enabled"`
	// Path is where the webhook is served on the listen port.
	Path string `toml:"path"`
	// SecretFile holds the shared secret; SecretHeader and SecretQuery
	// name the header and the query parameter a delivery may carry it in
	// (at least one must be set with the file). NextSecretFile holds the
	// secret the subscription is changing over to: a delivery carrying
	// either is accepted (docs/events.md, "Changing the shared secret").
	SecretFile     string `toml:"secret_file"`
	NextSecretFile string `toml:"next_secret_file"`
	SecretHeader   string `toml:"secret_header"`
	SecretQuery    string `toml:"secret_query"`
	// Entra is Microsoft Entra-protected delivery: the bearer token Event
	// Grid sends.
	Entra EventsEntra `toml:"entra"`
	// MaxBodyBytes bounds a delivery's body, MaxEvents its events.
	MaxBodyBytes int64 `toml:"max_body_bytes"`
	MaxEvents    int   `toml:"max_events"`
	// Queue bounds the accounts waiting for an event-driven sync; Window
	// is the least time from the end of one such sync of an account to
	// the start of the next (the first event syncs it at once).
	Queue  int      `toml:"queue"`
	Window Duration `toml:"window"`
	// Dedupe is how many recent event ids are remembered, so that a
	// redelivered event syncs nothing.
	Dedupe int `toml:"dedupe"`
}

// EventsEntra is the [events.entra] section.
type EventsEntra struct {
	// Tenant is the Entra tenant id of the delivering application's
	// tokens; Audience the application id or App ID URI they are for.
	Tenant   string `toml:"tenant"`
	Audience string `toml:"audience"`
	// Issuers accepted; when empty, the tenant's v1.0 and v2.0 issuers in
	// [azure] cloud (CloudIssuers) and the v2.0 issuer of the authority
	// keysync signs in at.
	Issuers []string `toml:"issuers"`
	// KeysURL is the tenant's signing keys (JWKS); the cloud's authority
	// .../{tenant}/discovery/v2.0/keys when empty.
	KeysURL string `toml:"keys_url"`
	// Role is the app role a token must carry in its roles claim: the one
	// the webhook's application grants Event Grid's service principal.
	// "" checks no role. Another application of the tenant may hold it
	// too, so AppID is checked as well.
	Role string `toml:"role"`
	// AppID is the application a token must be issued to (its azp claim
	// in v2 tokens, appid in v1): Event Grid's own. Any application of the
	// tenant can be granted Role (Microsoft's setup scripts grant it to
	// the subscription's creator too), so the role alone does not say
	// Event Grid sent the delivery. Empty: the cloud's Event Grid
	// application (EventGridAppID).
	AppID string `toml:"app_id"`
}

// DefaultEntraRole is the app role Microsoft's setup scripts create and
// grant Event Grid
// (learn.microsoft.com/azure/event-grid/secure-webhook-delivery).
const DefaultEntraRole = "AzureEventGridSecureWebhookSubscriber"

// eventGridAppIDs are Event Grid's first-party application ids by cloud,
// as Microsoft's setup script for Entra-protected delivery names them
// (learn.microsoft.com/azure/event-grid/scripts/powershell-webhook-secure-delivery-microsoft-entra-app,
// MicrosoftDocs/azure-docs articles/event-grid/scripts/powershell-webhook-secure-delivery-microsoft-entra-app.md:
// "Azure Public Cloud" and "Azure Government Cloud"). Microsoft documents
// none for AzureChina (docs.azure.cn's copy of the script has the reader
// look it up in the portal), so there app_id must be set.
var eventGridAppIDs = map[string]string{
	CloudPublic:       "4962773b-9cdb-44cf-a8bf-237846a00ab7",
	CloudUSGovernment: "54316b56-3481-47f9-8f30-0300f5542a7b",
}

// entraIssuers are the issuers of a tenant's access tokens by cloud, each
// followed by the tenant id: "/" in v1.0 tokens, "/v2.0" in v2.0 ones ("If
// the token issued is a v2.0 token ... the URI ends in /v2.0":
// MicrosoftDocs/entra-docs docs/identity-platform/access-token-claims-reference.md).
//   - v1.0: sts.windows.net in Azure public and Azure Government,
//     sts.chinacloudapi.cn in Azure China (Microsoft Q&A,
//     learn.microsoft.com/answers/questions/1190472, "What are the token
//     issuers for the sovereign cloud"; Microsoft's own validators trust the
//     same two hosts: Azure/aks-engine pkg/api/defaults-apiserver.go,
//     Azure/azure-sdk-for-java sdk/spring/spring-cloud-azure-autoconfigure
//     .../aad/security/jwt/AadTrustedIssuerRepository.java).
//   - v2.0: the cloud's Entra endpoint (entra-docs
//     docs/identity-platform/authentication-national-cloud.md, "Microsoft
//     Entra authentication endpoints": login.microsoftonline.com,
//     login.microsoftonline.us, login.partner.microsoftonline.cn). In Azure
//     China login.chinacloudapi.cn, the authority azcore's cloud.AzureChina
//     names, is the same instance: Entra's instance discovery
//     (login.microsoftonline.com/common/discovery/instance, api-version 1.1)
//     lists it as an alias of login.partner.microsoftonline.cn.
//
// An application's tokens are v1.0 unless its manifest says
// accessTokenAcceptedVersion 2, so a default that lacked a cloud's v1.0
// issuer would refuse every delivery there.
var entraIssuers = map[string]struct{ v1, v2 []string }{
	CloudPublic:       {v1: []string{"https://sts.windows.net/"}, v2: []string{"https://login.microsoftonline.com/"}},
	CloudUSGovernment: {v1: []string{"https://sts.windows.net/"}, v2: []string{"https://login.microsoftonline.us/"}},
	CloudChina: {v1: []string{"https://sts.chinacloudapi.cn/"},
		v2: []string{"https://login.partner.microsoftonline.cn/", "https://login.chinacloudapi.cn/"}},
}

// CloudIssuers are the issuers of the tenant's v1.0 and v2.0 tokens in
// cloud (AzurePublic when empty): the issuers accepted when the file
// names none.
func (e EventsEntra) CloudIssuers(cloud string) []string {
	if cloud == "" {
		cloud = CloudPublic
	}
	hosts := entraIssuers[cloud]
	var out []string
	for _, h := range hosts.v1 {
		out = append(out, h+e.Tenant+"/")
	}
	for _, h := range hosts.v2 {
		out = append(out, h+e.Tenant+"/v2.0")
	}
	return out
}

// EventGridAppID is the application a token must be issued to: app_id
// when set, else Event Grid's in cloud ("" when Microsoft documents none).
func (e EventsEntra) EventGridAppID(cloud string) string {
	if e.AppID != "" {
		return e.AppID
	}
	if cloud == "" {
		cloud = CloudPublic
	}
	return eventGridAppIDs[cloud]
}

// On reports whether Entra-protected delivery is configured.
func (e EventsEntra) On() bool { return e.Tenant != "" || e.Audience != "" }

// Bounds of [events]. Event Grid sends at most 5,000 events and 1 MB in a
// batch (learn.microsoft.com/azure/event-grid/delivery-and-retry#output-batching).
const (
	DefaultEventsPath   = "/events/eventgrid"
	maxEventsBody       = 16 << 20
	minEventsBody       = 4 << 10
	maxEventsBatch      = 5000
	maxEventsQueue      = 1 << 20
	maxEventsDedupe     = 1 << 20
	maxEventsWindow     = time.Minute
	maxEventsIssuers    = 8
	maxEventsHeaderName = 64
)

// DefaultEvents is the [events] section an empty file gives.
func DefaultEvents() Events {
	return Events{Path: DefaultEventsPath, MaxBodyBytes: 1 << 20, MaxEvents: maxEventsBatch,
		Queue: 1024, Window: Duration{500 * time.Millisecond}, Dedupe: 10000, Entra: EventsEntra{Role: DefaultEntraRole}}
}

// reservedPaths are the daemon's own endpoints, which the webhook cannot
// take.
var reservedPaths = []string{"/healthz", "/readyz", "/metrics", "/sync", "/status"}

var (
	eventsPathRE = regexp.MustCompile(`^(/[A-Za-z0-9._~-]+)+$`)
	uuidRE       = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	queryNameRE  = regexp.MustCompile(`^[A-Za-z0-9._~-]{1,64}$`)
)

func (e *Events) validate(p *Problems, listen, cloud string) {
	if !e.Enabled {
		return
	}
	if listen == "" {
		p.add("events.enabled", "needs listen: the webhook is served on the listen port")
	}
	// A path with a . or .. segment is one the HTTP mux never matches and
	// refuses to register (it would panic at start).
	if !eventsPathRE.MatchString(e.Path) || len(e.Path) > 128 || path.Clean(e.Path) != e.Path || isReserved(e.Path) {
		p.add("events.path", "must be a clean absolute path of letters, digits and ._~- (at most 128 bytes, no . or .. segment) other than %s, got %q", strings.Join(reservedPaths, ", "), e.Path)
	}
	e.validateSecret(p)
	e.Entra.validate(p, cloud)
	if e.SecretFile == "" && !e.Entra.On() {
		p.add("events", "enabled needs secret_file or [events.entra]: an unauthenticated webhook would let anyone make keysync call ARM")
	}
	e.validateBounds(p)
}

func isReserved(path string) bool {
	for _, r := range reservedPaths {
		if path == r || strings.HasPrefix(path, r+"/") {
			return true
		}
	}
	return false
}

func (e *Events) validateSecret(p *Problems) {
	if e.SecretHeader != "" && (len(e.SecretHeader) > maxEventsHeaderName || !validHeaderName(e.SecretHeader) || strings.EqualFold(e.SecretHeader, "Authorization")) {
		p.add("events.secret_header", "must be an HTTP header name of at most %d bytes other than Authorization, got %q", maxEventsHeaderName, e.SecretHeader)
	}
	if e.SecretQuery != "" && !queryNameRE.MatchString(e.SecretQuery) {
		p.add("events.secret_query", "must be 1 to 64 letters, digits or ._~-, got %q", e.SecretQuery)
	}
	switch {
	case e.SecretFile != "" && e.SecretHeader == "" && e.SecretQuery == "":
		p.add("events.secret_file", "needs secret_header or secret_query: where a delivery carries the secret")
	case e.SecretFile == "" && (e.SecretHeader != "" || e.SecretQuery != ""):
		p.add("events.secret_file", "must be set when secret_header or secret_query is")
	}
	if e.NextSecretFile != "" && e.SecretFile == "" {
		p.add("events.next_secret_file", "needs secret_file: the next secret is accepted beside the current one, not instead of it")
	}
}

// validHeaderName reports whether name is an HTTP token (RFC 9110 5.1).
func validHeaderName(name string) bool {
	return name != "" && strings.IndexFunc(name, func(r rune) bool {
		return r > 0x7e || r <= 0x20 || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r)
	}) < 0
}

func (e *Events) validateBounds(p *Problems) {
	if e.MaxBodyBytes < minEventsBody || e.MaxBodyBytes > maxEventsBody {
		p.add("events.max_body_bytes", "must be between %d and %d, got %d", minEventsBody, maxEventsBody, e.MaxBodyBytes)
	}
	if e.MaxEvents < 1 || e.MaxEvents > maxEventsBatch {
		p.add("events.max_events", "must be between 1 and %d (Event Grid's largest batch), got %d", maxEventsBatch, e.MaxEvents)
	}
	if e.Queue < 1 || e.Queue > maxEventsQueue {
		p.add("events.queue", "must be between 1 and %d, got %d", maxEventsQueue, e.Queue)
	}
	if e.Dedupe < 1 || e.Dedupe > maxEventsDedupe {
		p.add("events.dedupe", "must be between 1 and %d, got %d", maxEventsDedupe, e.Dedupe)
	}
	if d := e.Window.Duration; d <= 0 || d > maxEventsWindow {
		p.add("events.window", "must be positive and at most %s, got %s", maxEventsWindow, d)
	}
}

func (e *EventsEntra) validate(p *Problems, cloud string) {
	if !e.On() {
		if len(e.Issuers) > 0 || e.KeysURL != "" || e.AppID != "" {
			p.add("events.entra", "issuers, keys_url and app_id need tenant and audience")
		}
		return
	}
	if !uuidRE.MatchString(e.Tenant) {
		p.add("events.entra.tenant", "must be the tenant id (a GUID), got %q", e.Tenant)
	}
	if e.Audience == "" || len(e.Audience) > 256 {
		p.add("events.entra.audience", "must be the application id or App ID URI of the webhook's Entra application (at most 256 bytes)")
	}
	if len(e.Issuers) > maxEventsIssuers {
		p.add("events.entra.issuers", "at most %d, got %d", maxEventsIssuers, len(e.Issuers))
	}
	for _, iss := range e.Issuers {
		checkHTTPS(p, "events.entra.issuers", iss)
	}
	checkHTTPS(p, "events.entra.keys_url", e.KeysURL)
	if len(e.Role) > 128 || strings.ContainsAny(e.Role, " \t\r\n") {
		p.add("events.entra.role", "must be an app role value (at most 128 bytes, no spaces), got %q", e.Role)
	}
	switch {
	case e.AppID != "" && !uuidRE.MatchString(e.AppID):
		p.add("events.entra.app_id", "must be an application id (a GUID), got %q", e.AppID)
	case e.EventGridAppID(cloud) == "" && slices.Contains(CloudNames, cloud):
		p.add("events.entra.app_id", "must be set for %s: Microsoft documents no Event Grid application id for it; use the application id of the tenant's Microsoft.EventGrid service principal", cloud)
	}
}

// checkHTTPS accepts an empty value or an https URL; the keys decide whose
// tokens are believed, so they never come over plain http.
func checkHTTPS(p *Problems, key, v string) {
	if v == "" {
		return
	}
	if !strings.HasPrefix(v, "https://") {
		p.add(key, "must be an https URL, got %q", v)
		return
	}
	checkURL(p, key, v)
}

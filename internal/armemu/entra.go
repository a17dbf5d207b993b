package armemu

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // G505: x5t is by definition the SHA-1 thumbprint of the certificate (RFC 7517 section 4.8); nothing is protected by it
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"sync"
	"time"
)

// EventGridAppID is the application id of Event Grid's own service
// principal ("Microsoft.EventGrid"), the client of the tokens it carries to
// Microsoft Entra-protected webhooks: learn.microsoft.com/azure/event-grid/
// secure-webhook-delivery and the scripts it links
// (articles/event-grid/scripts/powershell-webhook-secure-delivery-microsoft-entra-app.md:
// "$eventGridAppId = \"4962773b-9cdb-44cf-a8bf-237846a00ab7\"").
const EventGridAppID = "4962773b-9cdb-44cf-a8bf-237846a00ab7"

// EventGridWebhookRole is the app role the webhook's Entra application
// grants Event Grid's service principal, carried in the token's roles
// claim (the same scripts: "AzureEventGridSecureWebhookSubscriber").
const EventGridWebhookRole = "AzureEventGridSecureWebhookSubscriber"

// Entra access-token versions: v1 tokens are issued by
// https://sts.windows.net/{tenant}/ (in Azure public) and name the client
// in appid, v2 tokens by https://login.microsoftonline.com/{tenant}/v2.0
// and name it in azp
// (learn.microsoft.com/entra/identity-platform/access-token-claims-reference);
// entraClouds has the other clouds' issuers.
const (
	EntraV1 = "1.0"
	EntraV2 = "2.0"
)

// entraTenant is one of the emulator's Microsoft Entra tenants: RSA
// signing keys, published as a JWKS beside an OpenID configuration
// document, and the cloud it acts as (its issuers, Event Grid's
// application there).
type entraTenant struct {
	id string
	sp string // the object id of Event Grid's service principal here
	entraCloud

	// The keys are made on first use: an RSA key takes a while, and most
	// emulators never sign a token. The last signs; all are published.
	// apps are the service principals of the tenant's other applications
	// (EntraAppToken), by application id.
	mu   sync.Mutex
	keys []*entraKey
	apps map[string]string
}

type entraKey struct {
	key     *rsa.PrivateKey
	certDER []byte
	kid     string
}

// newEntraTenant is a tenant acting as cloud.
func newEntraTenant(cloud string) (*entraTenant, error) {
	c, err := cloudOf(cloud)
	if err != nil {
		return nil, err
	}
	if c.eventGrid == "" {
		c.eventGrid = newUUID()
	}
	return &entraTenant{id: newUUID(), sp: newUUID(), entraCloud: c, apps: map[string]string{}}, nil
}

// appSP is the object id of application appID's service principal in the
// tenant, made on first use.
func (t *entraTenant) appSP(appID string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	sp, ok := t.apps[appID]
	if !ok {
		sp = newUUID()
		t.apps[appID] = sp
	}
	return sp
}

// signer returns the key that signs now, made on first use.
func (t *entraTenant) signer() *entraKey {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.keys) == 0 {
		t.keys = append(t.keys, newEntraKey())
	}
	return t.keys[len(t.keys)-1]
}

// published returns every key the JWKS lists.
func (t *entraTenant) published() []*entraKey {
	t.signer()
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.keys)
}

// RotateEntraKey makes a new signing key sign the first tenant's tokens
// from now on (EntraTenant.RotateKey for another's).
func (e *Emulator) RotateEntraKey() { e.entra.rotate() }

// rotate makes a new signing key sign from now on; the JWKS lists it
// beside the old ones (at most three), as Entra publishes keys before and
// after they sign, so that a webhook meets a token whose kid it has not
// cached yet.
func (t *entraTenant) rotate() {
	t.signer()
	k := newEntraKey()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.keys = append(t.keys, k)
	if len(t.keys) > 3 {
		t.keys = t.keys[len(t.keys)-3:]
	}
}

func newEntraKey() *entraKey {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(fmt.Sprintf("armemu: entra signing key: %v", err))
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "accounts.accesscontrol.windows.net"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(7 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(fmt.Sprintf("armemu: entra signing certificate: %v", err))
	}
	sum := sha1.Sum(der) //nolint:gosec // G401: x5t is the certificate's SHA-1 thumbprint by definition
	return &entraKey{key: key, certDER: der, kid: b64(sum[:])}
}

// EntraTenant returns the emulator's first Microsoft Entra tenant, which
// acts as Azure public: its id, the issuer of the v1 tokens Event Grid
// carries, and the URL of its signing keys, served in the shape of
// login.microsoftonline.com/{tenant}/discovery/v2.0/keys, with the OpenID
// configuration at {tenant}/v2.0/.well-known/openid-configuration beside it.
func (e *Emulator) EntraTenant() (tenantID, issuer, keysURL string) {
	t := e.entra
	return t.id, t.issuer(EntraV1), e.URL() + "/" + t.id + "/discovery/v2.0/keys"
}

// EntraIssuer is the issuer of the tenant's tokens of version EntraV1 or
// EntraV2.
func (e *Emulator) EntraIssuer(version string) string { return e.entra.issuer(version) }

func (t *entraTenant) issuer(version string) string {
	if version == EntraV2 {
		return t.v2 + t.id + "/v2.0"
	}
	return t.v1 + t.id + "/"
}

// EntraToken returns a v1 access token for audience, valid for ttl, as Event
// Grid carries to a Microsoft Entra-protected webhook: signed RS256 by the
// tenant's key, client Event Grid's application, role
// EventGridWebhookRole. A negative ttl gives an expired token.
func (e *Emulator) EntraToken(audience string, ttl time.Duration) string {
	return e.EntraTokenWith(e.entra.claims(EntraV1, audience, ttl))
}

// EntraTokenV2 is EntraToken in the v2 format.
func (e *Emulator) EntraTokenV2(audience string, ttl time.Duration) string {
	return e.EntraTokenWith(e.entra.claims(EntraV2, audience, ttl))
}

// EntraAppToken returns an access token of version EntraV1 or EntraV2 for
// audience, valid for ttl, that the tenant issues to another of its
// applications, appID, whose service principal was granted
// EventGridWebhookRole too: Microsoft's setup scripts grant the role to
// the event subscription's creator as well as to Event Grid
// (learn.microsoft.com/azure/event-grid/scripts/powershell-webhook-secure-delivery-microsoft-entra-app).
// It is signed by the same key and carries the same role, audience and
// issuer as Event Grid's; only the client (appid or azp) and the
// principal (oid, sub) differ.
func (e *Emulator) EntraAppToken(appID, version, audience string, ttl time.Duration) string {
	return e.EntraTokenWith(e.entra.claimsFor(appID, e.entra.appSP(appID), version, audience, ttl))
}

// EntraClaims are the claims EntraToken would sign, for a test to change
// one (issuer, tenant, role) and sign them with EntraTokenWith.
func (e *Emulator) EntraClaims(version, audience string, ttl time.Duration) map[string]any {
	return e.entra.claims(version, audience, ttl)
}

// EntraTokenWith signs claims with the tenant's key, as they are.
func (e *Emulator) EntraTokenWith(claims map[string]any) string { return e.entra.mustSign(claims) }

// mustSign signs claims with the tenant's key; signing with a key made
// here cannot fail but for a broken random source.
func (t *entraTenant) mustSign(claims map[string]any) string {
	tok, err := t.sign(claims)
	if err != nil {
		panic(fmt.Sprintf("armemu: signing a token: %v", err))
	}
	return tok
}

// claims are an app-only access token's claims for Event Grid's service
// principal in the tenant's cloud (access-token-claims-reference: aud,
// iss, iat, nbf, exp, oid, sub, tid, roles, ver; appid/appidacr in v1,
// azp/azpacr in v2).
func (t *entraTenant) claims(version, audience string, ttl time.Duration) map[string]any {
	return t.claimsFor(t.eventGrid, t.sp, version, audience, ttl)
}

// claimsFor are the claims of a token issued to application client, whose
// service principal here is sp, holding the webhook role.
func (t *entraTenant) claimsFor(client, sp, version, audience string, ttl time.Duration) map[string]any {
	now := time.Now()
	c := map[string]any{
		"aud": audience, "iss": t.issuer(version), "iat": now.Unix(), "nbf": now.Add(-5 * time.Minute).Unix(),
		"exp": now.Add(ttl).Unix(), "oid": sp, "sub": sp, "tid": t.id, "uti": randomString(16),
		"roles": []string{EventGridWebhookRole}, "ver": EntraV1,
		"appid": client, "appidacr": "2", "idp": t.issuer(EntraV1),
	}
	if version == EntraV2 {
		delete(c, "appid")
		delete(c, "appidacr")
		delete(c, "idp")
		c["azp"], c["azpacr"], c["ver"] = client, "2", EntraV2
	}
	return c
}

// sign makes a JWS compact serialisation, RS256, with the header Entra puts
// on access tokens (typ, alg, kid and the legacy x5t).
func (t *entraTenant) sign(claims map[string]any) (string, error) {
	k := t.signer()
	header, err := json.Marshal(map[string]string{"typ": "JWT", "alg": "RS256", "kid": k.kid, "x5t": k.kid})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(maps.Clone(claims))
	if err != nil {
		return "", fmt.Errorf("token claims: %w", err)
	}
	input := b64(header) + "." + b64(payload)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return input + "." + b64(sig), nil
}

// jwks is the tenant's key set in the shape of Entra's discovery keys
// document: kty, use, kid, x5t, n, e, x5c, and (v2) issuer.
func (t *entraTenant) jwks(version string) map[string]any {
	var keys []any
	for _, k := range t.published() {
		pub := k.key.PublicKey
		key := map[string]any{"kty": "RSA", "use": "sig", "kid": k.kid, "x5t": k.kid,
			"n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes()),
			"x5c": []string{base64.StdEncoding.EncodeToString(k.certDER)}}
		if version == EntraV2 {
			key["issuer"] = t.issuer(EntraV2)
		}
		keys = append(keys, key)
	}
	return map[string]any{"keys": keys}
}

// openIDConfig is the part of the OpenID configuration document a token
// validator reads: issuer and jwks_uri.
func (t *entraTenant) openIDConfig(base, version string) map[string]any {
	keys := base + "/" + t.id + "/discovery/keys"
	if version == EntraV2 {
		keys = base + "/" + t.id + "/discovery/v2.0/keys"
	}
	return map[string]any{"issuer": t.issuer(version), "jwks_uri": keys,
		"id_token_signing_alg_values_supported": []string{"RS256"}, "tenant_region_scope": "WW"}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// newUUID is a random (version 4) UUID, the shape of Azure's ids.
func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

package armemu

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// jwksIn is a JSON Web Key Set as Entra's discovery keys document has it.
type jwksIn struct{ Keys []jwkIn }

type jwkIn struct {
	Kty, Use, Kid, X5t, N, E, Issuer string
	X5c                              []string
}

// verifyJWT checks an RS256 token's signature against keys, the way a
// webhook would with crypto/rsa alone, and returns its claims.
func verifyJWT(token string, keys jwksIn) (map[string]any, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a JWS")
	}
	var header struct{ Typ, Alg, Kid string }
	if err := decodeSegment(parts[0], &header); err != nil || header.Alg != "RS256" || header.Typ != "JWT" {
		return nil, fmt.Errorf("header %+v: %w", header, err)
	}
	i := slices.IndexFunc(keys.Keys, func(k jwkIn) bool { return k.Kid == header.Kid })
	if i < 0 {
		return nil, fmt.Errorf("no key %q", header.Kid)
	}
	n, err1 := base64.RawURLEncoding.DecodeString(keys.Keys[i].N)
	e, err2 := base64.RawURLEncoding.DecodeString(keys.Keys[i].E)
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, err
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		return nil, err
	}
	var claims map[string]any
	return claims, decodeSegment(parts[1], &claims)
}

func decodeSegment(s string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// fetchKeys reads the tenant's JWKS and OpenID configuration over the
// emulator's HTTPS and checks that they agree.
func fetchKeys(t *testing.T, c *client) jwksIn {
	t.Helper()
	tenant, issuer, keysURL := c.emu.EntraTenant()
	var keys jwksIn
	if s := c.do(c.request(http.MethodGet, keysURL, nil), &keys); s != http.StatusOK || len(keys.Keys) != 1 {
		t.Fatalf("keys: %d, %d keys", s, len(keys.Keys))
	}
	k := keys.Keys[0]
	cert, err := x509.ParseCertificate(mustB64(t, k.X5c[0]))
	if err != nil || k.Kty != "RSA" || k.Use != "sig" || k.Issuer != c.emu.EntraIssuer(EntraV2) ||
		cert.PublicKey.(*rsa.PublicKey).N.Cmp(new(big.Int).SetBytes(mustB64URL(t, k.N))) != 0 {
		t.Errorf("key %+v: %v", k, err)
	}
	for _, tc := range []struct{ path, issuer, keys string }{
		{"/v2.0/.well-known/openid-configuration", c.emu.EntraIssuer(EntraV2), keysURL},
		{"/.well-known/openid-configuration", issuer, c.emu.URL() + "/" + tenant + "/discovery/keys"},
	} {
		var config struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		c.do(c.request(http.MethodGet, c.emu.URL()+"/"+tenant+tc.path, nil), &config)
		if config.Issuer != tc.issuer || config.JWKSURI != tc.keys {
			t.Errorf("%s: %+v, want issuer %s keys %s", tc.path, config, tc.issuer, tc.keys)
		}
	}
	return keys
}

func mustB64(t *testing.T, s string) []byte {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustB64URL(t *testing.T, s string) []byte {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEntraProtectedDelivery: with EntraAudience every request, handshake
// included, carries a bearer token that verifies against the JWKS the
// emulator serves, issued by its tenant for that audience to Event Grid's
// application with the webhook role; v1 and v2 differ as Entra's do.
func TestEntraProtectedDelivery(t *testing.T) {
	for _, version := range []string{EntraV1, EntraV2} {
		t.Run(version, func(t *testing.T) {
			c, rc := newGrid(t)
			keys := fetchKeys(t, c)
			subscribe(t, c.emu, rc, EventSubscription{EntraAudience: "api://keysync-webhook", EntraTokenVersion: version})
			publishN(c.emu, "ev", 1)
			waitFor(t, "the delivery", func() bool { return len(rc.notifications()) == 1 })
			for _, r := range append(rc.handshakeRequests(), rc.notifications()...) {
				tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
				claims, err := verifyJWT(tok, keys)
				if !ok || err != nil {
					t.Fatalf("%s request: token %v, %v", r.Method, ok, err)
				}
				checkClaims(t, c.emu, claims, version)
			}
		})
	}
}

func checkClaims(t *testing.T, e *Emulator, claims map[string]any, version string) {
	t.Helper()
	tenant, _, _ := e.EntraTenant()
	client, clientClaim := claims["appid"], "appid"
	if version == EntraV2 {
		client, clientClaim = claims["azp"], "azp"
	}
	now := float64(time.Now().Unix())
	roles, _ := claims["roles"].([]any)
	if claims["aud"] != "api://keysync-webhook" || claims["iss"] != e.EntraIssuer(version) || claims["tid"] != tenant ||
		claims["ver"] != version || client != EventGridAppID || claims["exp"].(float64) <= now || claims["nbf"].(float64) > now ||
		len(roles) != 1 || roles[0] != EventGridWebhookRole {
		t.Errorf("claims %v (client in %s)", claims, clientClaim)
	}
}

// TestEntraTokens: EntraToken's expiry and EntraTokenWith's claims are
// the test's; a token of another tenant does not verify against this one's
// keys.
func TestEntraTokens(t *testing.T) {
	c := start(t)
	keys := fetchKeys(t, c)
	claims, err := verifyJWT(c.emu.EntraToken("aud-1", -time.Minute), keys)
	if err != nil || claims["exp"].(float64) >= float64(time.Now().Unix()) || claims["iss"] != c.emu.EntraIssuer(EntraV1) {
		t.Errorf("expired token: %v, %v", claims, err)
	}
	custom := c.emu.EntraClaims(EntraV2, "aud-2", time.Hour)
	custom["roles"] = []string{"SomethingElse"}
	if claims, err := verifyJWT(c.emu.EntraTokenWith(custom), keys); err != nil || claims["roles"].([]any)[0] != "SomethingElse" {
		t.Errorf("custom token: %v, %v", claims, err)
	}
	other := New()
	if _, err := verifyJWT(other.EntraToken("aud-1", time.Hour), keys); err == nil {
		t.Error("another tenant's token verified")
	}
	tok := c.emu.EntraToken("aud-1", time.Hour)
	tampered := tok[:len(tok)-4] + strings.Repeat("A", 4)
	if tampered != tok {
		if _, err := verifyJWT(tampered, keys); err == nil {
			t.Error("a tampered token verified")
		}
	}
}

// TestEntraKeyRotation: after RotateEntraKey tokens carry a new kid that
// a JWKS fetched before does not hold and one fetched after does, beside
// the old key; at most three keys are published.
func TestEntraKeyRotation(t *testing.T) {
	c := start(t)
	before := fetchKeys(t, c)
	old := c.emu.EntraToken("aud-1", time.Hour)
	c.emu.RotateEntraKey()
	tok := c.emu.EntraToken("aud-1", time.Hour)
	if _, err := verifyJWT(tok, before); err == nil {
		t.Error("a token of the new key verified against the keys fetched before")
	}
	_, _, keysURL := c.emu.EntraTenant()
	var after jwksIn
	c.do(c.request(http.MethodGet, keysURL, nil), &after)
	for _, tk := range []string{old, tok} {
		if _, err := verifyJWT(tk, after); err != nil || len(after.Keys) != 2 {
			t.Errorf("after rotation (%d keys): %v", len(after.Keys), err)
		}
	}
	c.emu.RotateEntraKey()
	c.emu.RotateEntraKey()
	c.do(c.request(http.MethodGet, keysURL, nil), &after)
	if _, err := verifyJWT(old, after); err == nil || len(after.Keys) != 3 {
		t.Errorf("after four keys: %d published, the first verifies: %v", len(after.Keys), err == nil)
	}
}

// TestEntraAppToken: a token the tenant issues to another of its
// applications verifies against the same keys and carries the same
// audience, issuer and webhook role as Event Grid's; only its client
// (appid in v1, azp in v2) and principal differ, the principal stable per
// application. The admin route mints the same.
func TestEntraAppToken(t *testing.T) {
	c := start(t)
	keys := fetchKeys(t, c)
	const app = "0b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b"
	grid, err := verifyJWT(c.emu.EntraToken("aud-1", time.Hour), keys)
	if err != nil {
		t.Fatal(err)
	}
	var oids []any
	for _, version := range []string{EntraV1, EntraV2, EntraV1} {
		claims, err := verifyJWT(c.emu.EntraAppToken(app, version, "aud-1", time.Hour), keys)
		client := claims["appid"]
		if version == EntraV2 {
			client = claims["azp"]
		}
		roles, _ := claims["roles"].([]any)
		if err != nil || client != app || claims["aud"] != "aud-1" || claims["iss"] != c.emu.EntraIssuer(version) || claims["ver"] != version ||
			len(roles) != 1 || roles[0] != EventGridWebhookRole || claims["oid"] == grid["oid"] {
			t.Fatalf("%s token of another app: %v, %v", version, claims, err)
		}
		oids = append(oids, claims["oid"])
	}
	if oids[0] != oids[1] || oids[1] != oids[2] {
		t.Errorf("one application's principal changed between tokens: %v", oids)
	}
	var out map[string]string
	body := strings.NewReader(`{"audience":"aud-1","version":"2.0","appId":"` + app + `"}`)
	if s := c.do(c.request(http.MethodPost, c.emu.URL()+"/_emulator/eventgrid/entra-token", body), &out); s != http.StatusOK {
		t.Fatalf("admin entra-token: %d", s)
	}
	if claims, err := verifyJWT(out["token"], keys); err != nil || claims["azp"] != app || claims["oid"] != oids[0] {
		t.Errorf("admin token of another app: %v, %v", claims, err)
	}
}

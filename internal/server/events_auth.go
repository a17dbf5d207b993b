package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// EntraOptions configure Microsoft Entra-protected delivery: Event Grid
// sends "Authorization: Bearer <token>", a token Entra issued to it for
// the webhook's application
// (learn.microsoft.com/azure/event-grid/secure-webhook-delivery).
type EntraOptions struct {
	Audience string
	Issuers  []string
	KeysURL  string
	// Role, when set, must be in the token's roles claim.
	Role string
	// AppID is the application the token must be issued to: Event
	// Grid's own. Empty refuses every token.
	AppID string
	// Client fetches the keys; a bounded client without redirects when nil.
	Client *http.Client
}

// Bounds of a bearer token.
const (
	maxBearer  = 8 << 10
	tokenSkew  = time.Minute
	maxTokenTL = 24 * time.Hour
)

// entraVerifier checks Event Grid's bearer tokens: RS256 only (Entra's
// algorithm; an alg allow-list refuses "none" and HMAC-with-the-public-key
// tricks), signed by one of the tenant's keys, from an accepted issuer,
// for the audience, within exp and nbf give or take a minute. The checks
// are golang-jwt's (a widely used, maintained library), the keys come
// from jwks.
type entraVerifier struct {
	opts      EntraOptions
	keys      *jwks
	parser    *jwt.Parser
	validator *jwt.Validator
	// clock is the key set's time (time.Now; a test's own).
	clock func() time.Time
}

// NewEntraVerifier returns the verifier of opts.
func newEntraVerifier(opts EntraOptions, log *slog.Logger) *entraVerifier {
	rules := []jwt.ParserOption{jwt.WithValidMethods([]string{"RS256"}), jwt.WithAudience(opts.Audience),
		jwt.WithLeeway(tokenSkew), jwt.WithExpirationRequired(), jwt.WithIssuedAt()}
	return &entraVerifier{opts: opts, keys: newJWKS(opts.KeysURL, opts.Client, log),
		parser: jwt.NewParser(rules...), validator: jwt.NewValidator(rules...), clock: time.Now}
}

// verify checks r's bearer token. The claims are checked before the
// signing key is looked up: a token refused whatever its signature is
// refused (401) without waiting for, or starting, a fetch of the key set,
// so that only a token that would pass but for a key not held yet is
// told to come back (503).
func (v *entraVerifier) verify(r *http.Request) error {
	raw, ok := bearer(r)
	if !ok {
		return errors.New("no bearer token")
	}
	if len(raw) > maxBearer {
		return errors.New("bearer token too long")
	}
	var claims entraClaims
	_, err := v.parser.ParseWithClaims(raw, &claims, func(t *jwt.Token) (any, error) {
		if err := v.checkClaims(&claims); err != nil {
			return nil, err
		}
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("no key id")
		}
		return v.keys.key(context.WithoutCancel(r.Context()), kid, v.clock())
	})
	if err != nil {
		return fmt.Errorf("bearer token: %w", err)
	}
	return nil
}

// checkClaims checks what the token says, not yet who signed it: its
// times and audience (golang-jwt's validator, which the parser runs again
// once the signature holds), issuer, lifetime, role and client.
func (v *entraVerifier) checkClaims(claims *entraClaims) error {
	if err := v.validator.Validate(claims); err != nil {
		return err
	}
	if !slices.Contains(v.opts.Issuers, claims.Issuer) {
		return fmt.Errorf("issuer %.80q not accepted", claims.Issuer)
	}
	// Entra's access tokens always carry iat; without it the lifetime
	// bound would not hold.
	if claims.IssuedAt == nil || claims.ExpiresAt.Sub(claims.IssuedAt.Time) > maxTokenTL {
		return errors.New("no iat, or a lifetime longer than a day")
	}
	if v.opts.Role != "" && !slices.Contains(claims.Roles, v.opts.Role) {
		return fmt.Errorf("no role %.80q", v.opts.Role)
	}
	// A GUID has no case: app_id may be written in either.
	if client := claims.client(); client == "" || !strings.EqualFold(client, v.opts.AppID) {
		return fmt.Errorf("issued to application %.80q, not Event Grid's", client)
	}
	return nil
}

// entraClaims are the claims verify reads: the registered ones, the app
// roles, the token's version and its client application
// (learn.microsoft.com/entra/identity-platform/access-token-claims-reference).
type entraClaims struct {
	jwt.RegisteredClaims
	Roles   []string `json:"roles"`
	Version string   `json:"ver"`
	AppID   string   `json:"appid"`
	AZP     string   `json:"azp"`
}

// client is the application the token was issued to: appid in a v1.0
// token, azp in a v2.0 one (each claim is only in its version); "" for
// any other version, so that a token cannot pick the claim it is
// judged by.
func (c *entraClaims) client() string {
	switch c.Version {
	case "1.0":
		return c.AppID
	case "2.0":
		return c.AZP
	}
	return ""
}

// bearer is r's "Authorization: Bearer" token.
func bearer(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// errNoSecret: a shared secret's file cannot be used now, and the
// delivery carries none of the usable ones, so it may carry the unusable
// file's: like errNoKeys, answered 503, which Event Grid retries, not
// 401, which it drops. The file's problem is logged when it appears.
var errNoSecret = errors.New("a shared secret's file cannot be used")

// authenticate checks a delivery with every configured method; with none
// configured it refuses (config refuses that too). It reads only headers
// and the query: nothing of the body.
func (h *EventsHandler) authenticate(r *http.Request) error {
	if h.Secret == nil && h.entra == nil {
		return errors.New("no authentication configured")
	}
	if h.Secret != nil {
		if err := h.checkSecret(r); err != nil {
			return err
		}
	}
	if h.entra != nil {
		return h.entra.verify(r)
	}
	return nil
}

// checkSecret accepts r when it carries the current shared secret or,
// during a change of secret, the next one (NextSecret).
func (h *EventsHandler) checkSecret(r *http.Request) error {
	unusable := false
	for _, s := range []*Token{h.Secret, h.NextSecret} {
		switch {
		case s == nil:
		case s.Usable() != nil:
			unusable = true
		case h.secretMatches(r, s):
			return nil
		}
	}
	if unusable {
		return errNoSecret
	}
	return errors.New("no valid shared secret")
}

// secretMatches reports whether r carries secret in the configured header
// or query parameter; comparison in constant time.
func (h *EventsHandler) secretMatches(r *http.Request, secret *Token) bool {
	if h.SecretHeader != "" {
		if v := r.Header.Get(h.SecretHeader); v != "" && secret.Equal(v) {
			return true
		}
	}
	if h.SecretQuery != "" {
		if v := r.URL.Query().Get(h.SecretQuery); v != "" && secret.Equal(v) {
			return true
		}
	}
	return false
}

package vault

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/keysync/keysync/config"
	"github.com/keysync/keysync/sinks"
)

// Auth owns keysync's Vault token: it logs in once, renews the token with
// api.LifetimeWatcher, logs in again when renewal fails, when the token
// nears its max TTL, or when Vault says the token is no longer valid, and
// revokes on shutdown the tokens it obtained itself. With method "token" it
// takes the token it is given (VAULT_TOKEN or token_file, re-read when the
// file changes) and never revokes it.
type Auth struct {
	client *api.Client
	opts   AuthOptions
	log    *slog.Logger
	// OnLogin and OnRenew, when set, count logins and renewals by result
	// ("success", "failure").
	OnLogin func(method, result string)
	OnRenew func(result string)
	// OnToken, when set, counts what happens to the token: "invalid" at
	// every request that found it invalid (logged only the first time),
	// "recovered" when a new token replaces an invalid one.
	OnToken func(event string)

	mu       sync.Mutex
	secret   *api.Secret // the login's answer; nil for method token
	gen      int         // bumped at every new token
	fileMod  time.Time
	loggedIn bool
	changed  chan struct{}
	// invalid is set while the token in use is known to be invalid; it is
	// what makes that condition log once, not once per request.
	invalid bool
	// retryAt and wait pace attempts to get a new token while invalid.
	retryAt time.Time
	wait    time.Duration
}

// NewAuth prepares authentication for client; nothing happens until Login.
func NewAuth(client *api.Client, o AuthOptions, log *slog.Logger) *Auth {
	if o.Method == "" {
		o.Method = config.AuthToken
	}
	return &Auth{client: client, opts: o, log: log, changed: make(chan struct{}, 1)}
}

// Login gets a token now: by logging in, or from token_file or VAULT_TOKEN.
func (a *Auth) Login(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.loginLocked(ctx)
}

func (a *Auth) loginLocked(ctx context.Context) error {
	if a.opts.Method == config.AuthToken {
		return a.readTokenLocked()
	}
	s, err := a.logIn(ctx)
	a.count(a.OnLogin, err)
	if err != nil {
		return loginError(a.describe(), err)
	}
	old, hadOwn := a.client.Token(), a.loggedIn
	a.client.SetToken(s.Auth.ClientToken)
	a.secret, a.loggedIn = s, true
	a.bump()
	a.log.Info("logged in to vault", "method", a.opts.Method, "ttl", time.Duration(s.Auth.LeaseDuration)*time.Second, "renewable", s.Auth.Renewable)
	if hadOwn && old != s.Auth.ClientToken {
		a.revokeReplaced(ctx, old)
	}
	return nil
}

// revokeReplaced revokes a token keysync logged in for and no longer
// uses, so that no token of keysync's outlives its use. It is best effort:
// an invalid token has nothing left to revoke, and a valid one expires at
// its max TTL anyway.
func (a *Auth) revokeReplaced(ctx context.Context, token string) {
	c, err := a.client.CloneWithHeaders()
	if err != nil {
		return
	}
	c.SetToken(token)
	if err := c.Auth().Token().RevokeSelfWithContext(ctx, ""); err != nil && statusOf(err) != http.StatusForbidden {
		a.log.Debug("revoking the replaced vault token failed", "err", err)
	}
}

// logIn asks Vault for a token with the configured method.
func (a *Auth) logIn(ctx context.Context) (*api.Secret, error) {
	m, err := loginMethod(a.opts)
	if err != nil {
		return nil, err
	}
	s, err := m.Login(ctx, a.client)
	if err == nil && (s == nil || s.Auth == nil || s.Auth.ClientToken == "") {
		err = errors.New("login answered without a token")
	}
	return s, err
}

// describe names the method, and its mount when not the default one.
func (a *Auth) describe() string {
	if m := a.opts.MountPath; m != "" && m != a.opts.Method {
		return a.opts.Method + " at auth/" + m
	}
	return a.opts.Method
}

// loginError classifies a failed login and names the method, as in
// "vault login (approle): HTTP 400: invalid role or secret ID". A file
// refused for its mode is permanent: waiting does not fix it.
func loginError(method string, err error) error {
	e := classify("login", "("+method+")", err)
	if se := (*sinks.Error)(nil); errors.As(e, &se) && unsafeFile(err) {
		se.Transient = false
	}
	return e
}

// readTokenLocked takes the token from token_file (when it changed) or
// VAULT_TOKEN.
func (a *Auth) readTokenLocked() error {
	if a.opts.TokenFile == "" {
		tok := os.Getenv(api.EnvVaultToken)
		if tok == "" {
			return &sinks.Error{Op: "login", Path: "(token)", Err: errors.New("no vault token: set VAULT_TOKEN or [vault.auth] token_file")}
		}
		if a.gen == 0 {
			a.client.SetToken(tok)
			a.bump()
		}
		return nil
	}
	fi, err := checkFileMode("vault token_file", a.opts.TokenFile)
	if err != nil {
		return &sinks.Error{Op: "login", Path: "(token)", Transient: !unsafeFile(err), Err: err}
	}
	if fi.ModTime().Equal(a.fileMod) && a.gen > 0 {
		return nil
	}
	tok, err := readToken(a.opts.TokenFile)
	if err != nil {
		return &sinks.Error{Op: "login", Path: "(token)", Transient: true, Err: err}
	}
	a.client.SetToken(tok)
	a.fileMod = fi.ModTime()
	a.bump()
	if a.gen > 1 {
		a.log.Info("vault token_file changed: using the new token")
	}
	return nil
}

func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("vault token_file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("vault token_file %s is empty", path)
	}
	return tok, nil
}

// bump records a new token; a.mu is held. A token that replaces an
// invalid one ends that condition, and says so once.
func (a *Auth) bump() {
	a.gen++
	if a.invalid {
		a.invalid, a.wait = false, 0
		a.log.Info("vault token valid again: a new token is in use", "method", a.opts.Method)
		a.event("recovered")
	}
	select {
	case a.changed <- struct{}{}:
	default:
	}
}

func (a *Auth) count(f func(string, string), err error) {
	if f == nil {
		return
	}
	if err != nil {
		f(a.opts.Method, "failure")
	} else {
		f(a.opts.Method, "success")
	}
}

// Generation identifies the token in use, for Recover.
func (a *Auth) Generation() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.gen
}

// Recover is called when Vault answered 403 to a request made with token
// generation gen. If another caller has already replaced that token it
// reports true: the caller retries once. If the token still looks itself
// up fine, the 403 is a policy's, and it reports false. Otherwise the token
// is invalid: that is logged once, when it becomes so, and a new token is
// sought, at once the first time and then at most every wait (1 s doubling
// to 1 min), so that N accounts on a one-second schedule cause neither N
// log lines nor N logins a second.
func (a *Auth) Recover(ctx context.Context, gen int) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.gen != gen {
		return true
	}
	if !a.invalid {
		_, err := a.client.Auth().Token().LookupSelfWithContext(ctx)
		if s := statusOf(err); s != http.StatusForbidden && s != http.StatusUnauthorized {
			return false
		}
		a.invalid = true
		a.log.Warn("vault token no longer valid: getting a new one (logged once, until a new token works)", "method", a.opts.Method)
	}
	a.event("invalid")
	if time.Now().Before(a.retryAt) {
		return false
	}
	err := a.loginLocked(ctx)
	if a.gen != gen {
		return true
	}
	a.paceLocked(err)
	return false
}

// paceLocked schedules the next attempt to replace an invalid token, and
// logs why this one failed if it was the first.
func (a *Auth) paceLocked(err error) {
	first := a.wait == 0
	a.wait = min(max(2*a.wait, time.Second), time.Minute)
	a.retryAt = time.Now().Add(a.wait)
	if !first {
		return
	}
	if err == nil {
		// Method token without a new token_file: nothing to log in with.
		err = errors.New("no new token: write one to token_file, or restart keysync with a valid VAULT_TOKEN")
	}
	a.log.Error("vault login failed; trying again at most every minute, logged again when a token works", "method", a.opts.Method, "err", err)
}

func (a *Auth) event(name string) {
	if a.OnToken != nil {
		a.OnToken(name)
	}
}

// Revoke revokes the token if keysync obtained it by logging in.
func (a *Auth) Revoke(ctx context.Context) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.loggedIn {
		return
	}
	if err := a.client.Auth().Token().RevokeSelfWithContext(ctx, ""); err != nil {
		a.log.Warn("revoking vault token on shutdown failed", "err", err)
		return
	}
	a.loggedIn = false
	a.log.Info("vault token revoked")
}

package vault

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"

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

	mu       sync.Mutex
	secret   *api.Secret // the login's answer; nil for method token
	gen      int         // bumped at every new token
	fileMod  time.Time
	loggedIn bool
	changed  chan struct{}
}

// NewAuth prepares authentication for client; nothing happens until Login.
func NewAuth(client *api.Client, o AuthOptions, log *slog.Logger) *Auth {
	if o.Method == "" {
		o.Method = MethodToken
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
	if a.opts.Method == MethodToken {
		return a.readTokenLocked()
	}
	m, err := loginMethod(a.opts)
	if err == nil {
		var s *api.Secret
		if s, err = m.Login(ctx, a.client); err == nil && (s == nil || s.Auth == nil || s.Auth.ClientToken == "") {
			err = errors.New("login answered without a token")
		}
		if err == nil {
			a.client.SetToken(s.Auth.ClientToken)
			a.secret, a.loggedIn = s, true
			a.bump()
		}
	}
	a.count(a.OnLogin, err)
	if err != nil {
		return classify("login", "auth/"+a.opts.Method, fmt.Errorf("%s login: %w", a.opts.Method, err))
	}
	a.log.Info("logged in to vault", "method", a.opts.Method, "ttl", time.Duration(a.secret.Auth.LeaseDuration)*time.Second, "renewable", a.secret.Auth.Renewable)
	return nil
}

// readTokenLocked takes the token from token_file (when it changed) or
// VAULT_TOKEN.
func (a *Auth) readTokenLocked() error {
	if a.opts.TokenFile == "" {
		tok := os.Getenv(api.EnvVaultToken)
		if tok == "" {
			return &sinks.Error{Op: "login", Path: "token", Err: errors.New("no vault token: set VAULT_TOKEN or [vault.auth] token_file")}
		}
		if a.gen == 0 {
			a.client.SetToken(tok)
			a.bump()
		}
		return nil
	}
	fi, err := os.Stat(a.opts.TokenFile)
	if err != nil {
		return &sinks.Error{Op: "login", Path: "token", Temporary: true, Err: fmt.Errorf("vault token_file: %w", err)}
	}
	if fi.ModTime().Equal(a.fileMod) && a.gen > 0 {
		return nil
	}
	tok, err := readToken(a.opts.TokenFile)
	if err != nil {
		return &sinks.Error{Op: "login", Path: "token", Temporary: true, Err: err}
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

// bump records a new token; a.mu is held.
func (a *Auth) bump() {
	a.gen++
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
// generation gen. If another caller has already replaced that token, or
// the token still looks itself up fine (so the 403 is a policy's, not an
// expired token's), it does nothing and reports false. Otherwise it gets a
// new token and reports true: the caller retries once.
func (a *Auth) Recover(ctx context.Context, gen int) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.gen != gen {
		return true
	}
	if _, err := a.client.Auth().Token().LookupSelfWithContext(ctx); err == nil {
		return false
	}
	a.log.Warn("vault token no longer valid: getting a new one", "method", a.opts.Method)
	before := a.gen
	if err := a.loginLocked(ctx); err != nil {
		a.log.Error("vault login failed", "method", a.opts.Method, "err", err)
		return false
	}
	return a.gen != before
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

package vault

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/keysync/keysync/config"
)

// tokenFilePoll is how often Run looks at token_file for a new token.
const tokenFilePoll = 5 * time.Second

// Run keeps the token alive until ctx ends: it renews a login's token, logs
// in again when it cannot, and for method token watches token_file.
func (a *Auth) Run(ctx context.Context) {
	if a.opts.Method == config.AuthToken {
		a.watchTokenFile(ctx)
		return
	}
	for ctx.Err() == nil {
		a.mu.Lock()
		s := a.secret
		a.mu.Unlock()
		if s == nil {
			a.loginWithBackoff(ctx)
			continue
		}
		if renewed := a.watch(ctx, s); !renewed {
			a.loginWithBackoff(ctx)
		}
	}
}

// watch renews s until it can no more, or until another token replaced it.
// It reports true when it stopped because of a replacement.
func (a *Auth) watch(ctx context.Context, s *api.Secret) bool {
	w, err := a.client.NewLifetimeWatcher(&api.LifetimeWatcherInput{Secret: s})
	if err != nil {
		a.log.Warn("cannot watch the vault token", "err", err)
		return false
	}
	go w.Start()
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return true
		case <-a.changed:
			a.mu.Lock()
			replaced := a.secret != s
			a.mu.Unlock()
			if replaced {
				return true
			}
		case err := <-w.DoneCh():
			if err != nil {
				a.renewed("failure")
				a.log.Warn("vault token renewal failed: logging in again", "err", err)
			} else {
				a.log.Info("vault token near its max TTL: logging in again")
			}
			return false
		case <-w.RenewCh():
			a.renewed("success")
		}
	}
}

func (a *Auth) renewed(result string) {
	if a.OnRenew != nil {
		a.OnRenew(result)
	}
}

// loginWithBackoff logs in, retrying with jittered backoff from 1 s to 1 min.
func (a *Auth) loginWithBackoff(ctx context.Context) {
	wait := time.Second
	for {
		err := a.Login(ctx)
		if err == nil || ctx.Err() != nil {
			return
		}
		a.log.Error("vault login failed; retrying", "method", a.opts.Method, "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait/2 + rand.N(wait/2+1)): //nolint:gosec // G404: jitter, not a secret
		}
		wait = min(2*wait, time.Minute)
	}
}

// watchTokenFile re-reads token_file when it changes.
func (a *Auth) watchTokenFile(ctx context.Context) {
	if a.opts.TokenFile == "" {
		return
	}
	t := time.NewTicker(tokenFilePoll)
	defer t.Stop()
	failing := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			// Logged when the problem starts or changes, not every poll.
			err := a.Login(ctx)
			switch {
			case err != nil && err.Error() != failing:
				failing = err.Error()
				a.log.Warn("vault token_file unusable", "err", err)
			case err == nil && failing != "":
				failing = ""
				a.log.Info("vault token_file usable again")
			}
		}
	}
}

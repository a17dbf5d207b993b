package daemon

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// VaultProbe checks, every interval, that Vault answers and accepts
// keysync's token, and remembers the last answer for /readyz.
type VaultProbe struct {
	interval time.Duration
	log      *slog.Logger

	mu      sync.Mutex
	checker func(ctx context.Context) error
	err     error
}

// errNotChecked is the state before the first check has answered.
var errNotChecked = errors.New("not checked yet")

// NewVaultProbe returns a probe that calls check every interval once Run.
func NewVaultProbe(check func(ctx context.Context) error, interval time.Duration, log *slog.Logger) *VaultProbe {
	return &VaultProbe{checker: check, interval: interval, log: log, err: errNotChecked}
}

// Run checks until ctx ends. SetCheck swaps the check after a reload.
func (p *VaultProbe) Run(ctx context.Context) {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		p.probe(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// SetCheck replaces the check (after a reload built a new Vault client).
func (p *VaultProbe) SetCheck(check func(ctx context.Context) error) {
	p.mu.Lock()
	p.checker = check
	p.mu.Unlock()
}

func (p *VaultProbe) probe(ctx context.Context) {
	p.mu.Lock()
	check := p.checker
	p.mu.Unlock()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err := check(cctx)
	cancel()
	p.mu.Lock()
	changed := (err == nil) != (p.err == nil) || p.err == errNotChecked
	p.err = err
	p.mu.Unlock()
	switch {
	case changed && err != nil:
		p.log.Warn("vault not ready", "err", err)
	case changed:
		p.log.Info("vault ready")
	}
}

// Err is the last check's error, nil when Vault was fine.
func (p *VaultProbe) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

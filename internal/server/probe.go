package server

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// Probe timings: an answer younger than probeMaxAge is reused, so /readyz
// shows a seal within about probeMaxAge+probeTimeout however often it is
// asked, and costs Vault at most one request per probeMaxAge.
const (
	probeMaxAge  = time.Second
	probeTimeout = 2 * time.Second
)

// VaultProbe asks Vault whether it answers and accepts keysync's token:
// on demand for /readyz, with a short cache and never more than one
// request in flight, and every interval in the background so that a
// change is logged and counted even when no one asks.
type VaultProbe struct {
	interval time.Duration
	log      *slog.Logger
	now      func() time.Time // time.Now; a test's own clock
	// Observe, when set before Run, hears every answer (true: Vault fine).
	Observe func(up bool)

	mu       sync.Mutex
	checker  func(ctx context.Context) error
	err      error
	at       time.Time
	inflight chan struct{}
}

// errNotChecked is the state before the first check has answered.
var errNotChecked = errors.New("not checked yet")

// NewVaultProbe returns a probe that calls check every interval once Run.
func NewVaultProbe(check func(ctx context.Context) error, interval time.Duration, log *slog.Logger) *VaultProbe {
	return &VaultProbe{checker: check, interval: interval, log: log, now: time.Now, err: errNotChecked}
}

// Run checks until ctx ends. SetCheck swaps the check after a reload.
func (p *VaultProbe) Run(ctx context.Context) {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		_ = p.Fresh(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// SetCheck replaces the check (after a reload built a new Vault client)
// and forgets the last answer, which was about the old one.
func (p *VaultProbe) SetCheck(check func(ctx context.Context) error) {
	p.mu.Lock()
	p.checker = check
	p.at = time.Time{}
	p.mu.Unlock()
}

// Fresh returns an answer at most probeMaxAge old: the cached one, or the
// one of the check in flight, or a new check's. A caller whose ctx ends
// first gets ctx's error; the check goes on for the others.
func (p *VaultProbe) Fresh(ctx context.Context) error {
	p.mu.Lock()
	if !errors.Is(p.err, errNotChecked) && p.now().Sub(p.at) < probeMaxAge {
		err := p.err
		p.mu.Unlock()
		return err
	}
	done := p.inflight
	if done == nil {
		done = make(chan struct{})
		p.inflight = done
		go p.probe(p.checker, done) //nolint:gosec // G118: the check outlives the request on purpose, so that callers share it
	}
	p.mu.Unlock()
	select {
	case <-done:
		return p.Err()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// probe runs one check, bounded by probeTimeout, and records its answer.
func (p *VaultProbe) probe(check func(ctx context.Context) error, done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	err := check(ctx)
	cancel()
	p.mu.Lock()
	changed := (err == nil) != (p.err == nil) || errors.Is(p.err, errNotChecked)
	p.err, p.at, p.inflight = err, p.now(), nil
	p.mu.Unlock()
	close(done)
	if p.Observe != nil {
		p.Observe(err == nil)
	}
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

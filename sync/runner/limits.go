package runner

import (
	"context"
	"strings"
	"sync"

	"github.com/keysync/keysync/secret"
	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/plan"
)

// limits holds the semaphores behind SubscriptionConcurrency and
// VaultConcurrency, made on first use.
type limits struct {
	mu    sync.Mutex
	subs  map[string]chan struct{}
	vault chan struct{}
}

// acquire takes a slot of sem, or returns ctx's error; a nil sem is no bound.
func acquire(ctx context.Context, sem chan struct{}) (release func(), err error) {
	if sem == nil {
		return func() {}, nil
	}
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (r *Runner) subscriptionSem(sub string) chan struct{} {
	if r.SubscriptionConcurrency <= 0 {
		return nil
	}
	r.limits.mu.Lock()
	defer r.limits.mu.Unlock()
	if r.limits.subs == nil {
		r.limits.subs = map[string]chan struct{}{}
	}
	k := strings.ToLower(sub)
	sem, ok := r.limits.subs[k]
	if !ok {
		sem = make(chan struct{}, r.SubscriptionConcurrency)
		r.limits.subs[k] = sem
	}
	return sem
}

func (r *Runner) vaultSem() chan struct{} {
	if r.VaultConcurrency <= 0 {
		return nil
	}
	r.limits.mu.Lock()
	defer r.limits.mu.Unlock()
	if r.limits.vault == nil {
		r.limits.vault = make(chan struct{}, r.VaultConcurrency)
	}
	return r.limits.vault
}

func (r *Runner) fetch(ctx context.Context, a sources.Account) (secret.Fields, error) {
	release, err := acquire(ctx, r.subscriptionSem(a.SubscriptionID))
	if err != nil {
		return nil, err
	}
	defer release()
	return r.Source.Fetch(ctx, a)
}

func (r *Runner) read(ctx context.Context, path string) (plan.Current, error) {
	release, err := acquire(ctx, r.vaultSem())
	if err != nil {
		return plan.Current{}, err
	}
	defer release()
	return r.Sink.Read(ctx, path)
}

func (r *Runner) apply(ctx context.Context, path string, cur plan.Current, ch plan.Change) error {
	release, err := acquire(ctx, r.vaultSem())
	if err != nil {
		return err
	}
	defer release()
	return r.Sink.Apply(ctx, path, cur, ch)
}

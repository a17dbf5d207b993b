package runner

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/keysync/keysync/secret"
	"github.com/keysync/keysync/sinks"
	"github.com/keysync/keysync/sources"
)

// semaphore bounds calls in flight; a nil one bounds nothing.
type semaphore chan struct{}

func newSemaphore(n int) semaphore {
	if n <= 0 {
		return nil
	}
	return make(semaphore, n)
}

// acquire takes a slot, or returns ctx's error.
func (s semaphore) acquire(ctx context.Context) (release func(), err error) {
	if s == nil {
		return func() {}, nil
	}
	select {
	case s <- struct{}{}:
		return func() { <-s }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// errNoRotator: the source cannot regenerate keys.
var errNoRotator = errors.New("rotation is configured but the source cannot regenerate keys")

// bounded is a source whose calls are bounded in all (Runner.Concurrency)
// and per subscription (Runner.SubscriptionConcurrency), so that one
// subscription's accounts cannot take every worker while ARM throttles it.
type bounded struct {
	sources.Source
	*subscriptionSems
	all semaphore
}

// acquire takes a slot of both bounds, the subscription's first.
func (b bounded) acquire(ctx context.Context, subscription string) (release func(), err error) {
	releaseSub, err := b.sem(subscription).acquire(ctx)
	if err != nil {
		return nil, err
	}
	releaseAll, err := b.all.acquire(ctx)
	if err != nil {
		releaseSub()
		return nil, err
	}
	return func() { releaseAll(); releaseSub() }, nil
}

// subscriptionSems holds a semaphore per subscription, made on first use.
type subscriptionSems struct {
	perSubscription int

	mu   sync.Mutex
	sems map[string]semaphore
}

// Fetch implements sources.Source.
func (b bounded) Fetch(ctx context.Context, a sources.Account) (secret.Fields, error) {
	release, err := b.acquire(ctx, a.SubscriptionID)
	if err != nil {
		return nil, err
	}
	defer release()
	return b.Source.Fetch(ctx, a)
}

// Regenerate implements sources.Rotator, for a source that is one.
func (b bounded) Regenerate(ctx context.Context, a sources.Account, key string) (secret.Fields, error) {
	rot, ok := b.Source.(sources.Rotator)
	if !ok {
		return nil, errNoRotator
	}
	release, err := b.acquire(ctx, a.SubscriptionID)
	if err != nil {
		return nil, err
	}
	defer release()
	return rot.Regenerate(ctx, a, key)
}

// sem is the subscription's semaphore, made on first use. ARM ids are
// case-insensitive, and so is the key.
func (b *subscriptionSems) sem(subscription string) semaphore {
	if b.perSubscription <= 0 {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sems == nil {
		b.sems = map[string]semaphore{}
	}
	k := strings.ToLower(subscription)
	s, ok := b.sems[k]
	if !ok {
		s = newSemaphore(b.perSubscription)
		b.sems[k] = s
	}
	return s
}

// boundedSink is a sink whose calls share one bound
// (Runner.VaultConcurrency), so that a large run cannot open more
// connections to Vault than it allows.
type boundedSink struct {
	sinks.Sink
	sem semaphore
}

// Read implements sinks.Sink.
func (b boundedSink) Read(ctx context.Context, path string) (sinks.State, error) {
	release, err := b.sem.acquire(ctx)
	if err != nil {
		return sinks.State{}, err
	}
	defer release()
	return b.Sink.Read(ctx, path)
}

// Write implements sinks.Sink.
func (b boundedSink) Write(ctx context.Context, path string, w sinks.Write) error {
	release, err := b.sem.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	return b.Sink.Write(ctx, path, w)
}

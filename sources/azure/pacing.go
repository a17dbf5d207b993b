package azure

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// pacer paces requests to ARM's write bucket per subscription as keysync
// models it: every keys action (listKeys, listAdminKeys) is a POST, metered
// with writes. keysync spends from a local bucket of the same shape, one
// per subscription, and lowers it to what ARM reports as left
// (x-ms-ratelimit-remaining-subscription-writes, -global-writes), so that
// other clients of the subscription count too. A 429
// SubscriptionRequestsThrottled empties it and holds the subscription until
// Retry-After has passed.
type pacer struct {
	perSecond float64
	burst     int
	mu        sync.Mutex
	buckets   map[string]*bucket
}

type bucket struct {
	lim *rate.Limiter
	mu  sync.Mutex
	// until holds the subscription back after a 429 SubscriptionRequestsThrottled.
	until time.Time
	// inFlight counts requests sent and not answered: ARM has yet to
	// take them from its bucket.
	inFlight int
}

// newPacer paces to a bucket of burst requests refilled at perSecond;
// nil (no pacing) when perSecond is not positive.
func newPacer(perSecond float64, burst int) *pacer {
	if perSecond <= 0 {
		return nil
	}
	return &pacer{perSecond: perSecond, burst: burst, buckets: map[string]*bucket{}}
}

func (p *pacer) bucket(sub string) *bucket {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := strings.ToLower(sub)
	b, ok := p.buckets[k]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(rate.Limit(p.perSecond), max(p.burst, 1))}
		p.buckets[k] = b
	}
	return b
}

// wait blocks until the subscription may take one more request.
func (p *pacer) wait(ctx context.Context, sub string) error {
	if p == nil {
		return nil
	}
	b := p.bucket(sub)
	b.mu.Lock()
	hold := time.Until(b.until)
	b.mu.Unlock()
	if hold > 0 {
		t := time.NewTimer(hold)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := b.lim.Wait(ctx); err != nil {
		return err
	}
	b.mu.Lock()
	b.inFlight++
	b.mu.Unlock()
	return nil
}

// done ends a request that wait admitted. resp is its answer, nil when
// none came. The bucket is lowered to what ARM says is left, less the
// requests still on their way to it and one token of margin (ARM's bucket
// may have started a moment after keysync's); a throttled answer empties it
// and holds the subscription for Retry-After.
func (p *pacer) done(sub string, resp *http.Response) {
	if p == nil {
		return
	}
	b := p.bucket(sub)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.inFlight--
	if resp == nil {
		return
	}
	now := time.Now()
	left, ok := remaining(resp.Header)
	if resp.StatusCode == http.StatusTooManyRequests {
		left, ok = 0, true
		if until := now.Add(retryAfter(resp.Header, now)); until.After(b.until) {
			b.until = until
		}
	}
	if !ok {
		return
	}
	target := left - b.inFlight - 1
	if excess := int(b.lim.TokensAt(now)) - target; excess > 0 {
		b.lim.ReserveN(now, min(excess, b.lim.Burst()))
	}
}

// remaining reads the smaller of ARM's remaining-writes headers.
func remaining(h http.Header) (int, bool) {
	left, ok := -1, false
	for _, name := range []string{"x-ms-ratelimit-remaining-subscription-writes", "x-ms-ratelimit-remaining-subscription-global-writes"} {
		if n, err := strconv.Atoi(h.Get(name)); err == nil && n >= 0 && (!ok || n < left) {
			left, ok = n, true
		}
	}
	return left, ok
}

package armemu

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Throttle is ARM's per-subscription write bucket: Burst requests at once,
// refilled at Refill a second. Above it ARM answers 429
// SubscriptionRequestsThrottled with Retry-After.
type Throttle struct {
	Burst  int
	Refill float64
}

type bucket struct {
	tokens float64
	last   time.Time
}

// SetThrottle turns the per-subscription bucket on; nil turns it off.
func (e *Emulator) SetThrottle(t *Throttle) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.throttle = t
	e.buckets = map[string]*bucket{}
}

// admitThrottle takes a token from the subscription's bucket, or answers
// 429. Every admitted answer carries the remaining-writes header.
func (e *Emulator) admitThrottle(w http.ResponseWriter, sub string) bool {
	e.mu.Lock()
	t := e.throttle
	if t == nil {
		e.mu.Unlock()
		w.Header().Set("x-ms-ratelimit-remaining-subscription-writes", "1199")
		return true
	}
	k := strings.ToLower(sub)
	b, ok := e.buckets[k]
	now := time.Now()
	if !ok {
		b = &bucket{tokens: float64(t.Burst), last: now}
		e.buckets[k] = b
	}
	b.tokens = math.Min(float64(t.Burst), b.tokens+now.Sub(b.last).Seconds()*t.Refill)
	b.last = now
	admitted := b.tokens >= 1
	if admitted {
		b.tokens--
	}
	remaining, deficit := int(b.tokens), 1-b.tokens
	e.mu.Unlock()
	w.Header().Set("x-ms-ratelimit-remaining-subscription-writes", strconv.Itoa(remaining))
	if admitted {
		return true
	}
	e.mu.Lock()
	e.throttled++
	e.mu.Unlock()
	wait := int(math.Ceil(deficit / t.Refill))
	w.Header().Set("Retry-After", strconv.Itoa(max(wait, 1)))
	cloudError(w, http.StatusTooManyRequests, "SubscriptionRequestsThrottled",
		fmt.Sprintf("Number of write requests for subscription '%s' exceeded the limit of '%d' for time interval. Please try again after '%d' seconds.", sub, t.Burst, max(wait, 1)))
	return false
}

// Throttled counts the 429 SubscriptionRequestsThrottled answers the
// bucket has given.
func (e *Emulator) Throttled() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.throttled
}

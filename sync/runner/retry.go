package runner

import (
	"math/rand/v2"
	"time"

	"github.com/keysync/keysync/fault"
)

// RetryPolicy decides whether, and after how long, a failed attempt is tried
// again within one run.
type RetryPolicy struct {
	// Attempts is the most tries per job; below 1 means 1 (no retry).
	Attempts int
	// Base and Max bound the exponential backoff with full jitter.
	Base time.Duration
	Max  time.Duration
	// MaxRetryAfter caps how long keysync waits for a Retry-After within a
	// run; a server asking for longer fails the job now (the daemon's next
	// cycle picks it up) instead of holding the run hostage.
	MaxRetryAfter time.Duration
	// Jitter returns a uniform value in [0, n); nil means math/rand.
	Jitter func(n int64) int64
}

// DefaultRetry suits a one-shot run: a few quick tries.
var DefaultRetry = RetryPolicy{Attempts: 4, Base: time.Second, Max: 30 * time.Second, MaxRetryAfter: 2 * time.Minute}

// next returns the wait before the next try and whether to try again.
//
// A credential failure is not retried per account: every account shares
// the credential, which fails them all at once (and has retried already
// if retrying could help), so one account's retry only asks the token
// endpoint again for nothing.
func (p RetryPolicy) next(attempt int, err error) (time.Duration, bool) {
	c, _ := fault.Of(err)
	if err == nil || attempt >= p.Attempts || !c.Transient || c.Shared {
		return 0, false
	}
	wait := p.Backoff(attempt)
	if c.RetryAfter > 0 {
		if c.RetryAfter > p.MaxRetryAfter {
			return 0, false
		}
		// Never sooner than the server asked.
		wait = max(wait, c.RetryAfter)
	}
	return wait, true
}

// Backoff is the full-jitter exponential delay before retry number attempt
// (1-based): uniform in [0, min(Max, Base*2^(attempt-1))].
func (p RetryPolicy) Backoff(attempt int) time.Duration {
	ceil := p.Base
	for i := 1; i < attempt && ceil < p.Max; i++ {
		ceil *= 2
	}
	ceil = min(ceil, p.Max)
	if ceil <= 0 {
		return 0
	}
	jitter := p.Jitter
	if jitter == nil {
		jitter = rand.Int64N
	}
	return time.Duration(jitter(int64(ceil) + 1))
}

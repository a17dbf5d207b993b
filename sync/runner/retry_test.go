package runner

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/keysync/keysync/sinks"
	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sources/azure"
)

func TestBackoffIsBoundedFullJitter(t *testing.T) {
	p := RetryPolicy{Attempts: 10, Base: time.Second, Max: 8 * time.Second}
	// The largest jitter gives the ceiling: 1s, 2s, 4s, 8s, 8s ...
	p.Jitter = func(n int64) int64 { return n - 1 }
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 9: 8 * time.Second} {
		if got := p.Backoff(attempt); got != want {
			t.Errorf("attempt %d: ceiling %v, want %v", attempt, got, want)
		}
	}
	p.Jitter = func(int64) int64 { return 0 }
	if got := p.Backoff(5); got != 0 {
		t.Errorf("smallest jitter gives %v, want 0", got)
	}
	p.Jitter = nil
	for range 1000 {
		if d := p.Backoff(3); d < 0 || d > 4*time.Second {
			t.Fatalf("backoff %v outside [0, 4s]", d)
		}
	}
}

func TestNext(t *testing.T) {
	p := RetryPolicy{Attempts: 3, Base: time.Second, Max: 30 * time.Second, MaxRetryAfter: time.Minute,
		Jitter: func(n int64) int64 { return n / 2 }}
	throttled := &sources.Error{StatusCode: 429, Transient: true, RetryAfter: 20 * time.Second}
	tests := []struct {
		name    string
		attempt int
		err     error
		retry   bool
		wait    time.Duration
	}{
		{"success", 1, nil, false, 0},
		{"permanent source error", 1, &sources.Error{StatusCode: 403}, false, 0},
		{"plain error", 1, errors.New("x"), false, 0},
		{"transient uses backoff", 1, &sources.Error{StatusCode: 500, Transient: true}, true, 500 * time.Millisecond},
		{"retry-after wins over a shorter backoff", 1, throttled, true, 20 * time.Second},
		{"wrapped transient", 2, fmt.Errorf("ctx: %w", &sinks.Error{Transient: true}), true, time.Second},
		{"attempts exhausted", 3, throttled, false, 0},
		{"retry-after beyond the cap fails now", 1, &sources.Error{Transient: true, RetryAfter: time.Hour}, false, 0},
		{"absurd retry-after fails now", 1, &sources.Error{StatusCode: 503, Transient: true, RetryAfter: azure.RetryAfterCap}, false, 0},
		{"transient credential failure is not retried per account", 1, &sources.Error{Code: "AuthenticationFailed", Transient: true, Credential: true}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wait, retry := p.next(tt.attempt, tt.err)
			if retry != tt.retry || wait != tt.wait {
				t.Fatalf("next = (%v, %t), want (%v, %t)", wait, retry, tt.wait, tt.retry)
			}
		})
	}
}

package azure

import (
	"context"
	"net/http"
	"testing"
	"time"
)

func TestRemainingTakesTheSmallerHeader(t *testing.T) {
	tests := []struct {
		h    http.Header
		want int
		ok   bool
	}{
		{http.Header{"X-Ms-Ratelimit-Remaining-Subscription-Writes": {"150"}}, 150, true},
		{http.Header{"X-Ms-Ratelimit-Remaining-Subscription-Writes": {"150"}, "X-Ms-Ratelimit-Remaining-Subscription-Global-Writes": {"90"}}, 90, true},
		{http.Header{"X-Ms-Ratelimit-Remaining-Subscription-Writes": {"x"}}, 0, false},
		{http.Header{}, 0, false},
	}
	for _, tt := range tests {
		got, ok := remaining(tt.h)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("remaining(%v) = %d, %t", tt.h, got, ok)
		}
	}
}

// TestPacerFollowsHeadersAndHolds: an answer saying 2 are left brings the
// bucket down to what is left less those in flight and the margin, and a 429
// holds the subscription for its Retry-After. The bucket refills one token
// in 1,000 s and the hold lasts a minute, so that neither ends while the
// test looks, however slowly it runs.
func TestPacerFollowsHeadersAndHolds(t *testing.T) {
	p := newPacer(0.001, 100)
	ctx := context.Background()
	for range 3 {
		if err := p.wait(ctx, "S"); err != nil {
			t.Fatal(err)
		}
	}
	p.done("s", &http.Response{StatusCode: http.StatusOK, Header: http.Header{"X-Ms-Ratelimit-Remaining-Subscription-Writes": {"5"}}})
	// 5 left, 2 still in flight, 1 of margin: 2 tokens.
	if got := int(p.bucket("s").lim.TokensAt(time.Now())); got != 2 {
		t.Fatalf("%d tokens after the header, want 2", got)
	}
	p.done("s", &http.Response{StatusCode: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"60"}}})
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if err := p.wait(ctx, "s"); err == nil {
		t.Fatalf("a throttled subscription admitted a request after %v", time.Since(start))
	}
	if newPacer(0, 0) != nil {
		t.Fatal("pacing off should need no pacer")
	}
}

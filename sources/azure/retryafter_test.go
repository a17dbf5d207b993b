package azure

import (
	"net/http"
	"testing"
	"time"
)

// TestRetryAfterNeverOverflows: every form ARM may send is read, and no value, however
// large or malformed, overflows into a short wait.
func TestRetryAfterNeverOverflows(t *testing.T) {
	now := time.Date(2026, 11, 29, 6, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		header map[string]string
		want   time.Duration
	}{
		{"none", nil, 0},
		{"seconds", map[string]string{"Retry-After": "17"}, 17 * time.Second},
		{"zero", map[string]string{"Retry-After": "0"}, 0},
		{"spaces", map[string]string{"Retry-After": " 5 "}, 5 * time.Second},
		{"leading zeros", map[string]string{"Retry-After": "000000000000000000007"}, 7 * time.Second},
		{"overflowing seconds", map[string]string{"Retry-After": "999999999999999999"}, RetryAfterCap},
		{"past int64", map[string]string{"Retry-After": "99999999999999999999999999"}, RetryAfterCap},
		{"ten digits", map[string]string{"Retry-After": "9999999999"}, RetryAfterCap},
		{"a century and a day", map[string]string{"Retry-After": "3162240000"}, RetryAfterCap},
		{"negative", map[string]string{"Retry-After": "-5"}, 0},
		{"fraction", map[string]string{"Retry-After": "1.5"}, 0},
		{"garbage", map[string]string{"Retry-After": "soon"}, 0},
		{"http date", map[string]string{"Retry-After": "Sun, 29 Nov 2026 06:01:00 GMT"}, time.Minute},
		{"http date past", map[string]string{"Retry-After": "Sun, 29 Nov 2026 05:00:00 GMT"}, 0},
		{"http date far", map[string]string{"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"}, RetryAfterCap},
		{"x-ms ms", map[string]string{"x-ms-retry-after-ms": "1500"}, 1500 * time.Millisecond},
		{"x-ms ms wins", map[string]string{"x-ms-retry-after-ms": "250", "Retry-After": "9"}, 250 * time.Millisecond},
		{"ms", map[string]string{"retry-after-ms": "40"}, 40 * time.Millisecond},
		{"ms overflowing", map[string]string{"retry-after-ms": "999999999999999999"}, RetryAfterCap},
		{"ms garbage falls back", map[string]string{"retry-after-ms": "x", "Retry-After": "3"}, 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.header {
				h.Set(k, v)
			}
			if got := retryAfter(h, now); got != tt.want {
				t.Errorf("retryAfter = %v, want %v", got, tt.want)
			}
		})
	}
}

// FuzzRetryAfter: whatever the headers say, the wait is in [0, RetryAfterCap].
func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"17", "999999999999999999", "-1", "Sun, 29 Nov 2026 06:01:00 GMT", "1e9", " 0009 "} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, ra, ms string) {
		h := http.Header{}
		h.Set("Retry-After", ra)
		h.Set("x-ms-retry-after-ms", ms)
		if d := retryAfter(h, time.Now()); d < 0 || d > RetryAfterCap {
			t.Fatalf("retryAfter(%q, %q) = %v", ra, ms, d)
		}
	})
}

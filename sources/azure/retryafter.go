package azure

import (
	"net/http"
	"strings"
	"time"
)

// RetryAfterCap stands for "longer than any bound": what a Retry-After too
// large to be meant, or to fit a time.Duration, reads as. A run fails the
// account at once; the daemon waits its backoff_max.
const RetryAfterCap = 100 * 365 * 24 * time.Hour

// maxDelayDigits is where a delay in digits stops being read: ten digits of
// seconds are three centuries, past RetryAfterCap already.
const maxDelayDigits = 10

// retryAfter reads the server's requested wait: x-ms-retry-after-ms and
// retry-after-ms (ARM's millisecond forms, which azcore also honours), else
// Retry-After as delta-seconds or an HTTP date (RFC 9110 section 10.2.3).
// Nothing overflows: an absurd value is RetryAfterCap; a malformed or past
// one is 0, as if none was sent.
func retryAfter(h http.Header, now time.Time) time.Duration {
	for _, name := range []string{"x-ms-retry-after-ms", "retry-after-ms"} {
		if d, ok := parseDelay(h.Get(name), time.Millisecond); ok {
			return d
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if d, ok := parseDelay(v, time.Second); ok {
		return d
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), RetryAfterCap)
	}
	return 0
}

// parseDelay reads a non-negative count of unit; ok is false when v is not
// all digits. A count past RetryAfterCap is RetryAfterCap.
func parseDelay(v string, unit time.Duration) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" || strings.Trim(v, "0123456789") != "" {
		return 0, false
	}
	v = strings.TrimLeft(v, "0")
	if len(v) > maxDelayDigits {
		return RetryAfterCap, true
	}
	var n int64
	for _, c := range v {
		n = n*10 + int64(c-'0')
	}
	if n > int64(RetryAfterCap/unit) {
		return RetryAfterCap, true
	}
	return time.Duration(n) * unit, true
}

package server

import (
	"net/http"
	"strconv"
	"time"
)

// slots admits at most cap(s) holders at once and never makes one wait:
// a request that finds none taken is answered at once.
type slots chan struct{}

func (s slots) enter() bool {
	select {
	case s <- struct{}{}:
		return true
	default:
		return false
	}
}

func (s slots) leave() { <-s }

// shedRetryAfter is the Retry-After, in seconds, of a request refused
// because MaxHandlers requests are being served.
const shedRetryAfter = 1

// isProbe reports whether r is for /healthz or /readyz, which are served
// whatever else is running: a liveness probe that fails restarts keysync.
func isProbe(r *http.Request) bool { return r.URL.Path == "/healthz" || r.URL.Path == "/readyz" }

// guard serves next with three bounds on what a client can hold. At most
// limit requests other than the probes are served at once; one more gets
// 503 with Retry-After, so requests that are slow to answer (a /metrics
// nobody reads, deliveries waiting on Entra's keys) cannot take every
// connection. And a request with a body is answered with Connection:
// close and its connection's reads end with the handler: a client that
// sends its body a byte at a time would otherwise hold the connection
// while net/http reads what the handler left, up to ReadTimeout, even
// after a 401. And an answer is sent with Connection: close when
// keepAlive says its connection is not to serve another request: its
// client pipelines without reading the answers, or a new connection
// waits for a slot (pool.go).
func guard(next http.Handler, limit int, obs Observer, keepAlive func(*http.Request) bool) http.Handler {
	busy := make(slots, limit)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !keepAlive(r) {
			w.Header().Set("Connection", "close")
		}
		if r.Body != nil && r.Body != http.NoBody {
			w.Header().Set("Connection", "close")
			defer func() { _ = http.NewResponseController(w).SetReadDeadline(time.Now()) }()
		}
		if isProbe(r) {
			next.ServeHTTP(w, r)
			return
		}
		if !busy.enter() {
			obs.RequestShed()
			overloaded(w, shedRetryAfter, "too many requests at once; retry later")
			return
		}
		defer busy.leave()
		next.ServeHTTP(w, r)
	})
}

// overloaded answers 503 with Retry-After, in seconds, and closes the
// connection: the client is to come back later, on a new one.
func overloaded(w http.ResponseWriter, retryAfter int, msg string) {
	w.Header().Set("Connection", "close")
	w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": msg})
}

package server

import "time"

// Limits bound what one client can hold of the HTTP server.
type Limits struct {
	// ReadHeaderTimeout bounds reading a request's headers, ReadTimeout
	// the whole request, WriteTimeout the answer, IdleTimeout how long a
	// keep-alive connection may wait for its next request.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	// MaxConns bounds open connections: one more evicts a connection
	// waiting on its client (pool.go).
	MaxConns int
	// MaxHandlers bounds the requests served at once other than /healthz
	// and /readyz; one more is answered 503 at once. Below MaxConns, it
	// keeps connections that only the probes, or clients still sending
	// headers (whom a newcomer evicts), can hold.
	MaxHandlers int
	// AdmitWait bounds how long a new connection waits for a slot
	// before it is closed (pool.go). A kubelet's probe gives up after its
	// timeoutSeconds (1 s by default), so waiting longer only holds a
	// connection nobody waits for.
	AdmitWait time.Duration
}

// DefaultLimits are the server's limits. A scrape every 15 s opens a new
// connection after IdleTimeout, which costs less than holding hundreds.
var DefaultLimits = Limits{
	ReadHeaderTimeout: 5 * time.Second,
	ReadTimeout:       10 * time.Second,
	WriteTimeout:      30 * time.Second,
	IdleTimeout:       10 * time.Second,
	MaxHeaderBytes:    16 << 10,
	MaxConns:          128,
	MaxHandlers:       96,
	AdmitWait:         admitWait,
}

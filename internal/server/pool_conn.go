package server

import (
	"net"
	"sync/atomic"
	"time"
)

// quietGrace is how long a new connection may stay silent before it can
// be evicted: its client may not have sent the request yet (a probe is
// sent as soon as it connects, but a busy machine may delay it). Against
// connections that never send anything it bounds how long each holds a
// slot once every slot is taken.
const quietGrace = 500 * time.Millisecond

// poolConn is a connection of the pool; it knows whether the server is
// blocked reading it and whether the client sent anything.
type poolConn struct {
	net.Conn
	pool    *connPool
	opened  time.Time
	reading atomic.Bool // the server is in Read
	heard   atomic.Bool // Read returned bytes

	// waiting is when it began waiting for a request's headers (the
	// pool's seq), 0 while it serves one; served, whether it ever did.
	// Both under pool.mu.
	waiting uint64
	served  bool
}

// Read notes that the server waits on the client, and whether it sent
// anything.
func (c *poolConn) Read(b []byte) (int, error) {
	c.reading.Store(true)
	c.pool.signal()
	n, err := c.Conn.Read(b)
	c.reading.Store(false)
	if n > 0 {
		c.heard.Store(true)
	}
	return n, err
}

// quiet reports whether c has been waiting on its client (pool.mu held):
// waiting for a request's headers with the server in Read, and served
// before, or sent something, or silent for quietGrace. If not only for
// being new, at is when it will be.
func (c *poolConn) quiet(now time.Time) (ok bool, at time.Time) {
	if c.waiting == 0 || !c.reading.Load() {
		return false, time.Time{}
	}
	if c.served || c.heard.Load() || now.Sub(c.opened) >= quietGrace {
		return true, time.Time{}
	}
	return false, c.opened.Add(quietGrace)
}

// rank orders quiet connections for eviction: idle keep-alive ones
// first, then those that sent part of their headers, then silent ones.
func (c *poolConn) rank() int {
	switch {
	case c.served:
		return 0
	case c.heard.Load():
		return 1
	}
	return 2
}

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

// writeStall is how long a Write may block before its connection counts
// as waiting on a client that does not read its answer: a Write returns
// once its bytes are in the socket's send buffer, which a client that
// reads keeps emptying.
const writeStall = 500 * time.Millisecond

// poolConn is a connection of the pool; it knows whether the server is
// blocked reading or writing it and whether the client sent anything.
type poolConn struct {
	net.Conn
	pool    *connPool
	opened  time.Time
	reading atomic.Bool // the server is in Read
	heard   atomic.Bool // Read returned bytes
	// writeFrom is when the Write in progress began, as nanoseconds
	// since opened (monotonic) plus one; 0 while none is.
	writeFrom atomic.Int64

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

// Write notes that the server waits for the client to take an answer,
// until it has.
func (c *poolConn) Write(b []byte) (int, error) {
	c.writeFrom.Store(int64(time.Since(c.opened)) + 1)
	c.pool.signal()
	n, err := c.Conn.Write(b)
	c.writeFrom.Store(0)
	return n, err
}

// stalled reports whether the server has been blocked writing c for
// writeStall: its client does not read its answers. If a Write is in
// progress but not for that long yet, at is when it will have been;
// since is when it began.
func (c *poolConn) stalled(now time.Time) (ok bool, at, since time.Time) {
	from := c.writeFrom.Load()
	if from == 0 {
		return false, time.Time{}, time.Time{}
	}
	since = c.opened.Add(time.Duration(from - 1))
	if now.Sub(since) >= writeStall {
		return true, time.Time{}, since
	}
	return false, since.Add(writeStall), since
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

// Ranks of starved connections, in the order they are evicted.
const (
	rankIdle    = iota // served, waiting for the next request's headers
	rankPartial        // sent part of its headers
	rankSilent         // sent nothing for quietGrace
	rankStalled        // does not read its answer
)

// rank orders quiet connections for eviction: idle keep-alive ones
// first, then those that sent part of their headers, then silent ones.
func (c *poolConn) rank() int {
	switch {
	case c.served:
		return rankIdle
	case c.heard.Load():
		return rankPartial
	}
	return rankSilent
}

// starvedConn is a connection that may be evicted, with what orders it:
// its rank, then when it began waiting on its client (the pool's seq for
// one waiting for headers, the time its Write began for a stalled one).
type starvedConn struct {
	c     *poolConn
	rank  int
	seq   uint64
	since time.Time
}

// starving reports whether c is starved (pool.mu held); if not, at is
// when it may be, zero when only a change of state (a Read or Write
// begun, a request in or answered, each of which wakes the pool) can
// make it so.
func (c *poolConn) starving(now time.Time) (s starvedConn, ok bool, at time.Time) {
	quiet, quietAt := c.quiet(now)
	if quiet {
		return starvedConn{c: c, rank: c.rank(), seq: c.waiting}, true, time.Time{}
	}
	stalled, stallAt, since := c.stalled(now)
	if stalled {
		return starvedConn{c: c, rank: rankStalled, since: since}, true, time.Time{}
	}
	if quietAt.IsZero() || (!stallAt.IsZero() && stallAt.Before(quietAt)) {
		return starvedConn{}, false, stallAt
	}
	return starvedConn{}, false, quietAt
}

package server

import (
	"cmp"
	"net"
	"sync/atomic"
	"time"
)

// quietGrace is how long a new connection that has sent nothing is
// evicted only after every other starved one: its client may not have
// sent the request yet (a probe is sent as soon as it connects, but a
// busy machine may delay it). Once every slot is taken, a silent one is
// evicted whatever its age, the oldest first: a silent client that
// reconnects as fast as it is closed is then evicted by the next, and
// cannot hold every slot.
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

// quiet reports whether c waits on its client for a request's headers
// (pool.mu held), and its rank: silent, its client having sent nothing
// (rankSilent, or rankFresh within quietGrace of its opening, at being
// when that ends); or with the server in Read, served before (rankIdle)
// or having sent part of its headers (rankPartial).
func (c *poolConn) quiet(now time.Time) (ok bool, rank int, at time.Time) {
	switch {
	case c.waiting == 0:
		return false, 0, time.Time{}
	case !c.served && !c.heard.Load():
		if now.Sub(c.opened) >= quietGrace {
			return true, rankSilent, time.Time{}
		}
		return true, rankFresh, c.opened.Add(quietGrace)
	case !c.reading.Load():
		return false, 0, time.Time{}
	case c.served:
		return true, rankIdle, time.Time{}
	}
	return true, rankPartial, time.Time{}
}

// Ranks of starved connections, in the order they are evicted.
const (
	rankIdle    = iota // served, waiting for the next request's headers
	rankPartial        // sent part of its headers
	rankSilent         // sent nothing for quietGrace
	rankStalled        // does not read its answer
	rankFresh          // sent nothing yet, within quietGrace
)

// starvedConn is a connection that may be evicted, with what orders it:
// its rank, then when it began waiting on its client (the pool's seq for
// one waiting for headers, the time its Write began for a stalled one).
type starvedConn struct {
	c     *poolConn
	rank  int
	seq   uint64
	since time.Time
}

// compare orders starved connections for eviction: by rank, then the
// longest waiting first. It is called for every pair a sort compares,
// for every new connection of a flood, so it compares no more than it
// must.
func (s starvedConn) compare(o starvedConn) int {
	switch {
	case s.rank != o.rank:
		return cmp.Compare(s.rank, o.rank)
	case s.seq != o.seq:
		return cmp.Compare(s.seq, o.seq)
	}
	return s.since.Compare(o.since)
}

// starving reports whether c is starved (pool.mu held). at is when it
// may be, or, for a silent one within quietGrace, be ranked earlier; zero
// when only a change of state (a Read or Write begun, a request in or
// answered, each of which wakes the pool) can make it so.
func (c *poolConn) starving(now time.Time) (s starvedConn, ok bool, at time.Time) {
	if quiet, rank, quietAt := c.quiet(now); quiet {
		return starvedConn{c: c, rank: rank, seq: c.waiting}, true, quietAt
	}
	stalled, stallAt, since := c.stalled(now)
	if stalled {
		return starvedConn{c: c, rank: rankStalled, since: since}, true, time.Time{}
	}
	return starvedConn{}, false, stallAt
}

// evictable reports whether the kernel agrees that s waits on its client.
// A stalled writer goes whatever it sent: a client that does not read
// what it asked for is not owed what it sent after. Any other goes only
// if the kernel holds nothing the server has not read: the server being
// in Read does not prove the client silent, as bytes may have arrived
// that its goroutine, not yet run again, has not taken. A silent one goes
// only if the kernel has received nothing from its client at all: the
// server's goroutine may have taken its request and not yet noted it
// (heard). When the kernel cannot tell, a silent one younger than
// quietGrace stays.
func (s starvedConn) evictable() bool {
	switch s.rank {
	case rankStalled:
		return true
	case rankSilent, rankFresh:
		if n, ok := received(s.c.Conn); ok {
			return n == 0
		}
		if s.rank == rankFresh {
			return false
		}
	}
	n, ok := unread(s.c.Conn)
	return !ok || n == 0
}

package server

import (
	"context"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// admitWait bounds how long a new connection waits for a slot before it
// is closed.
const admitWait = time.Second

// waitingPerSlot bounds how many new connections wait for a slot at once,
// per slot (256 for 128). One more is closed at once, unless a waiting
// one has sent nothing at all: that one is closed, oldest first, and the
// new one waits.
const waitingPerSlot = 2

// connPool is a listener of at most max open connections on which
// clients that send nothing, headers that never end, or requests whose
// answers they do not read, cannot lock out a probe, however fast they
// reconnect. Anyone who reaches the port may open connections and send
// their headers slowly or never, or ask and not read. Such a connection
// is starved: silent, its client having sent nothing at all; or waiting
// for a request's headers (net/http's StateNew, or StateIdle between
// keep-alive requests) with the server blocked reading it, having been
// served before or sent something; or with the server blocked writing it
// for writeStall, whatever it is serving. When every slot is taken, a new
// connection evicts one of the starved (starved): a real client (a
// kubelet, Prometheus, Event Grid) sends its request as soon as it is
// connected, so silent clients that reconnect as fast as they are closed
// evict one another, not it. Never evicted are a connection holding bytes
// the server has not read (a probe's request may be waiting in it), and
// one serving a request that does not wait on its client (StateActive;
// MaxHandlers keeps those fewer than max). While none can be evicted, the
// new connection waits for a slot, up to admitWait, behind those that
// came before it. Accepting never waits for a slot: one goroutine
// accepts and decides at once (arrive), another gives the waiting their
// slots as they come free or evictable (admitting). The hook ConnState
// and each Read and Write keep the states; one lock guards the set and
// the queue.
//
// Two more rules keep a connection from being served without end
// (keepAlive, which guard.go asks): one whose client pipelines requests
// without reading the answers is closed after the next answer, before
// the answers fill the socket buffers; and while a new connection waits
// for a slot, every connection is closed after its current answer, so
// that a client pipelining as fast as it reads, never waiting and so
// never starved, gives its slot back.
type connPool struct {
	net.Listener
	max int
	// wait is how long a new connection may wait for a slot (admitWait,
	// or Limits.AdmitWait).
	wait   time.Duration
	obs    Observer
	wake   chan struct{} // a connection's state changed while some wait
	done   chan struct{} // closed by Close
	ready  chan net.Conn // connections given a slot, for Accept
	failed chan error    // the listener's errors, for Accept
	start  sync.Once
	shut   sync.Once
	// crowd is set while a new connection waits for a slot.
	crowd atomic.Bool

	mu    sync.Mutex
	seq   uint64
	conns map[*poolConn]struct{}
	queue []*poolConn // waiting for a slot, oldest first
}

func newConnPool(ln net.Listener, limit int, obs Observer) *connPool {
	return &connPool{Listener: ln, max: limit, wait: admitWait, obs: obs, wake: make(chan struct{}, 1), done: make(chan struct{}),
		ready: make(chan net.Conn), failed: make(chan error), conns: make(map[*poolConn]struct{}, limit)}
}

// Accept returns the next connection given a slot; the first call starts
// the goroutines that give them.
func (p *connPool) Accept() (net.Conn, error) {
	p.start.Do(func() {
		go p.accepting()
		go p.admitting()
	})
	select {
	case c := <-p.ready:
		return c, nil
	case err := <-p.failed:
		return nil, err
	case <-p.done:
		return nil, net.ErrClosed
	}
}

// Close closes the listener and the connections waiting for a slot.
func (p *connPool) Close() error {
	p.shut.Do(func() { close(p.done) })
	return p.Listener.Close()
}

// take gives c a free slot, or the slot of the connection starved the
// longest, returned to be closed (pool.mu held). ok is false when there
// is neither; retry is then when a connection now too new, or not
// blocked writing long enough yet, may be evicted.
func (p *connPool) take(c *poolConn, now time.Time) (victim *poolConn, ok bool, retry time.Time) {
	if len(p.conns) >= p.max {
		if victim, retry = p.starved(now, spoke(c)); victim == nil {
			return nil, false, retry
		}
		delete(p.conns, victim)
	}
	p.seq++
	c.waiting = p.seq
	p.conns[c] = struct{}{}
	return victim, true, time.Time{}
}

// starved is the connection to evict (pool.mu held), or nil and when one
// now too new, or not blocked writing long enough yet, may be. Of the
// starved connections, first an idle keep-alive one (its client is done
// and can open another), then one that sent part of its headers, then a
// silent one older than quietGrace, then one whose client does not read
// its answers, then a silent one younger; of those, the one that has
// waited longest. A new connection whose client is slow to send (a probe
// on a busy machine) thus outlives the others. A silent one younger than
// quietGrace goes only while silent ones hold half the slots or more: a
// flood of them; a lone one is more likely a client about to send than
// what holds the port. The kernel has the last word
// (starvedConn.evictable). A silent connection is evicted only for one
// whose client has spoken (spoke): a new connection that has sent
// nothing either has no better claim to the slot, and a flood's clients
// reconnecting, each silent for the moment after its connect, would
// otherwise evict one another and a probe whose request is a moment
// away; such a one waits, and is looked at again after newcomerPoll.
func (p *connPool) starved(now time.Time, spoke bool) (*poolConn, time.Time) {
	var found []starvedConn
	var retry time.Time
	later := func(at time.Time) {
		if !at.IsZero() && (retry.IsZero() || at.Before(retry)) {
			retry = at
		}
	}
	for c := range p.conns {
		s, ok, at := c.starving(now)
		if ok {
			found = append(found, s)
		}
		later(at)
	}
	slices.SortFunc(found, starvedConn.compare)
	for i, s := range found {
		if s.rank == rankFresh && (i == 0 || found[i-1].rank != rankFresh) && !p.silentFlood(found) {
			break
		}
		if !spoke && (s.rank == rankSilent || s.rank == rankFresh) {
			later(now.Add(newcomerPoll))
			continue
		}
		if s.evictable() {
			return s.c, time.Time{}
		}
	}
	return nil, retry
}

// newcomerPoll is how often a new connection that waits for a slot
// because it has sent nothing yet is looked at again: nothing wakes the
// pool when its bytes arrive, as no goroutine reads it yet.
const newcomerPoll = 10 * time.Millisecond

// spoke reports whether c's client has sent anything, as the kernel
// counts; true when the kernel cannot tell (the pool then decides as if
// it had, as it did before it asked).
func spoke(c *poolConn) bool {
	n, ok := received(c.Conn)
	return !ok || n > 0
}

// silentFlood reports whether connections whose clients have sent
// nothing hold half the slots or more, as the kernel counts (pool.mu
// held). The server's count is not enough: a connection whose bytes
// arrived but that its goroutine has not read yet (an attacker's
// pipelined requests, on a busy machine) looks silent to it, and would
// make a flood of a probe whose client has not sent its request yet.
// When the kernel cannot tell, the server's count stands.
func (p *connPool) silentFlood(found []starvedConn) bool {
	n := 0
	for _, s := range found {
		if s.rank != rankSilent && s.rank != rankFresh {
			continue
		}
		if got, ok := received(s.c.Conn); ok && got > 0 {
			continue
		}
		if n++; 2*n >= p.max {
			return true
		}
	}
	return false
}

// connKey keys a request's *poolConn in its context.
type connKey struct{}

// connContext is the server's ConnContext: a request can find its
// connection.
func (p *connPool) connContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// keepAlive reports whether the connection of r may serve another request
// after r. Not while a new connection waits for a slot. Nor when its
// client sent r before it had received every earlier answer: the kernel
// still holds some unacknowledged (a client that sends a request once
// it has read the last answer acknowledges all of it in that request's
// segments). Such a client pipelines without reading, and would have
// the server answer until the socket buffers are full (megabytes on
// loopback), then hold a slot blocked writing.
func (p *connPool) keepAlive(r *http.Request) bool {
	if p.crowd.Load() {
		return false
	}
	c, _ := r.Context().Value(connKey{}).(*poolConn)
	if c == nil {
		return true
	}
	n, ok := unacked(c.Conn)
	return !ok || n == 0
}

// signal wakes the goroutine that gives waiting connections their
// slots, if any wait.
func (p *connPool) signal() {
	if !p.crowd.Load() {
		return
	}
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// ConnState is the server's hook: a connection whose request headers are
// in is serving; one back to idle waits again, from now; a closed one
// gives its slot back. An evicted connection is no longer held, and its
// later states change nothing.
func (p *connPool) ConnState(nc net.Conn, state http.ConnState) {
	c, _ := nc.(*poolConn)
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, held := p.conns[c]; !held {
		return
	}
	switch state {
	case http.StateActive:
		c.waiting, c.served = 0, true
	case http.StateIdle:
		p.seq++
		c.waiting = p.seq
	case http.StateClosed, http.StateHijacked:
		delete(p.conns, c)
	}
	p.signal()
}

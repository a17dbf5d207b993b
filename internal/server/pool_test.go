package server

import (
	"io"
	"net"
	"testing"
	"time"
)

// freshConns makes a pool connection of each of raws, just opened and
// waiting for its first request's headers with the server in Read, in
// that order, and puts them in p.
func freshConns(p *connPool, raws []net.Conn, now time.Time) []*poolConn {
	var conns []*poolConn
	for _, raw := range raws {
		p.seq++
		c := &poolConn{Conn: raw, pool: p, opened: now, waiting: p.seq}
		c.reading.Store(true)
		p.conns[c] = struct{}{}
		conns = append(conns, c)
	}
	return conns
}

// waitUnread waits until the kernel holds bytes the server has not read
// on each of raws.
func waitUnread(t *testing.T, raws ...net.Conn) {
	t.Helper()
	for _, raw := range raws {
		waitFor(t, "the client's bytes in the kernel", func() bool { n, ok := unread(raw); return ok && n > 0 })
	}
}

// TestStarvedSilentFlood: with every slot taken and half of them or more
// silent, the silent connection admitted first is evicted whatever its
// age, after a stalled writer; one whose bytes wait in the kernel, or
// that the server took but has not noted yet, is not, older though it
// is. With fewer than half silent, a silent one younger than quietGrace
// is not evicted, and the pool looks again once it is older. Silent
// connections used to be evicted only after quietGrace, so that clients
// reconnecting as fast as they were closed held every slot.
func TestStarvedSilentFlood(t *testing.T) {
	const partial = "GET /healthz HTTP/1.1\r\n"
	p, raws := serverConns(t, "", partial, partial, "", "")
	waitUnread(t, raws[1], raws[2])
	if _, err := io.ReadFull(raws[2], make([]byte, len(partial))); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	conns := freshConns(p, raws, now)
	if victim, _ := p.starved(now, true); victim != conns[0] {
		t.Fatalf("evicted %v, want the first silent one", victim)
	}
	delete(p.conns, conns[0])
	p.max = len(p.conns) // full again, two of four silent
	if victim, _ := p.starved(now, true); victim != conns[3] {
		t.Fatalf("evicted %v, want the second silent one", victim)
	}
	// conns[1] has been blocked writing an answer for a minute.
	stalled := conns[1]
	stalled.waiting, stalled.served, stalled.opened = 0, true, now.Add(-time.Minute)
	stalled.writeFrom.Store(1)
	if victim, _ := p.starved(now, true); victim != stalled {
		t.Fatalf("evicted %v, want the stalled writer before a silent one within quietGrace", victim)
	}
	stalled.writeFrom.Store(0)
	for _, c := range conns[2:4] {
		c.waiting, c.served = 0, true
	}
	// Now one of the four held is silent.
	if victim, retry := p.starved(now, true); victim != nil || !retry.Equal(now.Add(quietGrace)) {
		t.Fatalf("evicted %v, retry %v; want none until quietGrace", victim, retry.Sub(now))
	}
	if victim, _ := p.starved(now.Add(quietGrace), true); victim != conns[4] {
		t.Fatalf("evicted %v after quietGrace, want the silent one", victim)
	}
}

// TestSilentNewcomerEvictsNoSilentOne: with every slot taken and half
// of them silent (a flood, by the kernel's count), a new connection whose
// client has sent nothing evicts none of the silent ones and is looked at
// again after newcomerPoll; one whose client has spoken evicts the
// oldest. Reconnecting attackers, silent for the moment after each
// connect, used to evict one another's slots and a probe's whose request
// was a moment away (TestCrowdedPortEndsPipelines, beside a CPU hog).
// Another starved connection (a stalled writer) goes for either.
func TestSilentNewcomerEvictsNoSilentOne(t *testing.T) {
	p, raws := serverConns(t, "", "", "")
	now := time.Now()
	conns := freshConns(p, raws, now)
	if victim, retry := p.starved(now, false); victim != nil || !retry.Equal(now.Add(newcomerPoll)) {
		t.Fatalf("a silent newcomer evicted %v, retry in %v; want none, again in %v", victim, retry.Sub(now), newcomerPoll)
	}
	if victim, _ := p.starved(now, true); victim != conns[0] {
		t.Fatalf("a newcomer that spoke evicted %v, want the first silent one", victim)
	}
	stalled := conns[1]
	stalled.waiting, stalled.served, stalled.opened = 0, true, now.Add(-time.Minute)
	stalled.writeFrom.Store(1)
	if victim, _ := p.starved(now, false); victim != stalled {
		t.Fatalf("a silent newcomer evicted %v, want the stalled writer", victim)
	}
}

// TestFloodIsTheKernelsSilent: with every slot taken by connections
// just opened, two of whose clients have sent their requests (the
// server's goroutines have not read them yet) and one not yet (a probe on
// a busy machine), none is evicted: only one is silent, not a flood. The
// pool used to count as silent every connection it had not read from, and
// so evicted the probe under pipelining attackers that reconnected.
func TestFloodIsTheKernelsSilent(t *testing.T) {
	const req = "GET /healthz HTTP/1.1\r\nHost: k\r\n\r\n"
	p, raws := serverConns(t, req, req, "")
	waitUnread(t, raws[0], raws[1])
	now := time.Now()
	freshConns(p, raws, now)
	if victim, retry := p.starved(now, true); victim != nil || !retry.Equal(now.Add(quietGrace)) {
		t.Fatalf("evicted %v, retry in %v; want none until quietGrace", victim, retry.Sub(now))
	}
}

// TestFullQueueFreeSlots: when as many wait as may but slots are free
// (the goroutine that gives them out has not run yet), a new connection
// is not refused: those waiting are given the free slots first, and it
// waits behind the rest. It used to be refused while slots were free,
// under a reconnecting flood on a busy machine, probes among them.
func TestFullQueueFreeSlots(t *testing.T) {
	const req = "GET /healthz HTTP/1.1\r\nHost: k\r\n\r\n"
	p, raws := serverConns(t, req, req, req, req, req)
	waitUnread(t, raws...)
	obs := &countObserver{}
	p.obs, p.max = obs, 2
	now := time.Now()
	for _, raw := range raws[:4] {
		p.queue = append(p.queue, &poolConn{Conn: raw, pool: p, opened: now})
	}
	p.crowd.Store(true)
	accepted := make(chan net.Conn, len(raws))
	go func() {
		for range p.max {
			accepted <- <-p.ready
		}
	}()
	p.arrive(raws[4])
	if n := obs.refused.Load(); n != 0 {
		t.Fatalf("refused %d with slots free", n)
	}
	for i := range p.max {
		if c := (<-accepted).(*poolConn); c.Conn != raws[i] {
			t.Fatalf("slot %d went to another than the oldest waiting", i)
		}
	}
	if len(p.queue) != 3 || p.queue[2].Conn != raws[4] {
		t.Fatalf("%d waiting; want the two left and the new one last", len(p.queue))
	}
}

// TestWaitingQueue: while no slot is free or evictable, new connections
// wait in the order they came, two per slot; one more evicts the oldest
// waiting one that sent nothing, or, when all have sent something, is
// closed itself. A slot that comes free goes to the oldest waiting; the
// next waits on, until what holds the slot may be evicted or admitWait
// is up.
func TestWaitingQueue(t *testing.T) {
	const req = "GET /healthz HTTP/1.1\r\nHost: k\r\n\r\n"
	p, raws := serverConns(t, req, "", req, req, req)
	waitUnread(t, raws[0], raws[2], raws[3], raws[4])
	p.max = 1
	now := time.Now()
	busy := &poolConn{Conn: raws[0], pool: p, opened: now, served: true}
	p.conns[busy] = struct{}{}
	var waiting []*poolConn
	for i, raw := range raws[1:] {
		waiting = append(waiting, &poolConn{Conn: raw, pool: p, opened: now.Add(time.Duration(i) * time.Millisecond)})
	}
	silent, first, second, third := waiting[0], waiting[1], waiting[2], waiting[3]
	for _, tt := range []struct {
		c       *poolConn
		dropped *poolConn
	}{{silent, nil}, {first, nil}, {second, silent}, {third, third}} {
		if victim, placed, dropped := p.enter(tt.c); victim != nil || placed || dropped != tt.dropped {
			name := map[*poolConn]string{nil: "none", silent: "silent", first: "first", second: "second", third: "third"}
			t.Fatalf("enter %s: victim %v, placed %v, dropped %s; want only %s", name[tt.c], victim != nil, placed, name[dropped], name[tt.dropped])
		}
	}
	if len(p.queue) != 2 || p.queue[0] != first || p.queue[1] != second || !p.crowd.Load() {
		t.Fatalf("waiting %d, crowd %v; want the first and second", len(p.queue), p.crowd.Load())
	}
	delete(p.conns, busy)
	placed, victims, expired, next := p.settle(now)
	if len(placed) != 1 || placed[0] != first || len(victims)+len(expired) != 0 || !next.Equal(first.opened.Add(quietGrace)) {
		t.Fatalf("placed %d, evicted %d, expired %d, next in %v; want the first placed", len(placed), len(victims), len(expired), next.Sub(now))
	}
	placed, _, expired, next = p.settle(second.opened.Add(admitWait))
	if len(placed) != 0 || len(expired) != 1 || expired[0] != second || !next.IsZero() || p.crowd.Load() {
		t.Fatalf("placed %d, expired %d, next %v, crowd %v; want the second expired", len(placed), len(expired), next, p.crowd.Load())
	}
}

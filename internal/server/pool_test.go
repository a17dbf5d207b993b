package server

import (
	"net"
	"testing"
	"time"
)

// waitUnread waits until the kernel holds bytes the server has not read
// on each of raws.
func waitUnread(t *testing.T, raws ...net.Conn) {
	t.Helper()
	for _, raw := range raws {
		waitFor(t, "the client's bytes in the kernel", func() bool { n, ok := unread(raw); return ok && n > 0 })
	}
}

// TestWaitingQueue: while no slot is free or evictable, new connections
// wait in the order they came, two per slot; one more evicts the oldest
// waiting one that sent nothing, or, when all have sent something, is
// closed itself. A slot that comes free goes to the oldest waiting; the
// next waits on, until admitWait is up.
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
	if len(placed) != 1 || placed[0] != first || len(victims)+len(expired) != 0 || !next.Equal(second.opened.Add(admitWait)) {
		t.Fatalf("placed %d, evicted %d, expired %d, next in %v; want the first placed", len(placed), len(victims), len(expired), next.Sub(now))
	}
	placed, _, expired, next = p.settle(second.opened.Add(admitWait))
	if len(placed) != 0 || len(expired) != 1 || expired[0] != second || !next.IsZero() || p.crowd.Load() {
		t.Fatalf("placed %d, expired %d, next %v, crowd %v; want the second expired", len(placed), len(expired), next, p.crowd.Load())
	}
}

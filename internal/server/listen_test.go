package server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keysync/keysync/internal/testenv"
)

// countObserver counts what the server refuses.
type countObserver struct {
	nopObserver
	refused, evicted, shed atomic.Int64
}

func (o *countObserver) ConnRefused() { o.refused.Add(1) }
func (o *countObserver) ConnEvicted() { o.evicted.Add(1) }
func (o *countObserver) RequestShed() { o.shed.Add(1) }

// dial opens a connection to addr and writes prefix on it.
func dial(t *testing.T, addr, prefix string) net.Conn {
	t.Helper()
	var d net.Dialer
	c, err := d.DialContext(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if _, err := io.WriteString(c, prefix); err != nil {
		t.Fatal(err)
	}
	return c
}

// answer reads the status of the answer on c.
func answer(t *testing.T, c net.Conn) int {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(time.Minute))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// closedByServer reports whether the server closed c (rather than the
// read timing out after a minute). A server with the default limits would
// close a waiting connection by itself after ReadHeaderTimeout: tests that
// expect another reason to close it set the limits to hours.
func closedByServer(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(time.Minute))
	_, err := io.Copy(io.Discard, c)
	return !errors.Is(err, os.ErrDeadlineExceeded)
}

// partialsRead is how many connections the pool holds that wait for the
// rest of their headers with everything they sent read: the server heard
// them, is blocked reading them, and the kernel holds nothing unread.
func partialsRead(p *connPool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for c := range p.conns {
		if left, ok := unread(c.Conn); c.waiting != 0 && c.heard.Load() && c.reading.Load() && ok && left == 0 {
			n++
		}
	}
	return n
}

// heldStates is how many connections the pool holds, and how many of
// them are serving a request.
func heldStates(p *connPool) (held, serving int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		if c.waiting == 0 {
			serving++
		}
	}
	return len(p.conns), serving
}

// TestConnPoolEvictsLongestWaiting: with every slot taken, a new
// connection evicts the one that has waited longest for its request's
// headers, never one serving a request; when all are serving, the new one
// is closed at once. Nothing is refused while a slot is free. The server's
// own timeouts are an hour, so that only eviction closes a connection.
func TestConnPoolEvictsLongestWaiting(t *testing.T) {
	s, _ := newTestServer(t, &countingSyncer{}, "", 0)
	obs := &countObserver{}
	s.Observer, s.Limits = obs, Limits{MaxConns: 3, ReadHeaderTimeout: time.Hour, ReadTimeout: time.Hour, IdleTimeout: time.Hour}
	release, checking := make(chan struct{}), make(chan struct{}, 1)
	s.Vault.SetCheck(func(context.Context) error {
		checking <- struct{}{}
		<-release
		return nil
	})
	addr, err := s.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	const readyz, partial = "GET /readyz HTTP/1.1\r\nHost: k\r\n\r\n", "GET /healthz HTTP/1.1\r\nHost: k\r\n"
	serving := dial(t, addr.String(), readyz)
	<-checking
	older, newer := dial(t, addr.String(), partial), dial(t, addr.String(), partial)
	// Until the server has read their partial headers, the pool cannot
	// tell them waiting (TestStarvedSkipsUnreadBytes): on a busy machine
	// it would then evict whichever was read first.
	waitFor(t, "three connections held, the two partial ones read", func() bool {
		h, _ := heldStates(s.pool)
		return h == 3 && partialsRead(s.pool) == 2
	})
	probe := dial(t, addr.String(), "GET /healthz HTTP/1.1\r\nHost: k\r\nConnection: close\r\n\r\n")
	if code := answer(t, probe); code != http.StatusOK {
		t.Fatalf("/healthz with every slot taken: %d", code)
	}
	if !closedByServer(older) {
		t.Fatal("the connection that waited longest was not evicted")
	}
	if _, err := io.WriteString(newer, "\r\n"); err != nil || answer(t, newer) != http.StatusOK {
		t.Fatalf("the newer waiting connection was evicted: %v", err)
	}
	// Now three serve /readyz, all waiting for the one Vault check.
	more := []net.Conn{dial(t, addr.String(), readyz), dial(t, addr.String(), readyz)}
	waitFor(t, "three connections serving", func() bool { _, n := heldStates(s.pool); return n == 3 })
	if late := dial(t, addr.String(), readyz); !closedByServer(late) {
		t.Fatal("a connection beyond three serving ones was not closed")
	}
	close(release)
	for i, c := range append(more, serving) {
		if code := answer(t, c); code != http.StatusOK {
			t.Fatalf("serving connection %d: %d after the check", i, code)
		}
	}
	if r, e := obs.refused.Load(), obs.evicted.Load(); r != 1 || e != 2 {
		t.Fatalf("%d refused, %d evicted; want 1 and 2", r, e)
	}
}

// TestStarvedChoice: of the connections waiting on their client, an idle
// keep-alive one goes first, then one that sent part of its headers, then
// a silent one past quietGrace, then one whose Write has blocked for
// writeStall, the longest waiting first within each; one serving a
// request and not blocked writing, one the server is not reading, a
// silent one still within quietGrace and one blocked writing for less
// than writeStall never go, the last two giving the time to look again.
func TestStarvedChoice(t *testing.T) {
	now := time.Now()
	type conn struct {
		name                  string
		waiting               uint64
		served, heard, inRead bool
		age                   time.Duration
		writing               time.Duration // how long a Write has blocked; 0 for none
	}
	idle := func(n string, w uint64) conn { return conn{n, w, true, true, true, time.Minute, 0} }
	partial := func(n string, w uint64) conn { return conn{n, w, false, true, true, time.Second, 0} }
	silent := func(n string, w uint64, age time.Duration) conn { return conn{n, w, false, false, true, age, 0} }
	stalled := func(n string, writing time.Duration) conn { return conn{n, 0, true, true, false, time.Minute, writing} }
	tests := []struct {
		name  string
		conns []conn
		want  string // "" for none
		retry time.Duration
	}{
		{"idle before partial", []conn{partial("p", 1), idle("i", 9)}, "i", 0},
		{"partial before silent", []conn{silent("s", 1, time.Minute), partial("p", 9)}, "p", 0},
		{"longest waiting first", []conn{partial("p2", 5), partial("p1", 3), partial("p3", 7)}, "p1", 0},
		{"silent past grace", []conn{silent("s", 4, quietGrace)}, "s", 0},
		{"silent within grace", []conn{silent("new", 4, quietGrace/5)}, "", quietGrace * 4 / 5},
		{"serving", []conn{{"busy", 0, true, true, true, time.Minute, 0}}, "", 0},
		{"not being read", []conn{{"unread", 3, false, true, false, time.Minute, 0}}, "", 0},
		{"stalled writing", []conn{stalled("w", writeStall)}, "w", 0},
		{"silent before stalled", []conn{stalled("w", time.Minute), silent("s", 4, time.Minute)}, "s", 0},
		{"longest stalled first", []conn{stalled("w1", time.Second), stalled("w2", 2*time.Second)}, "w2", 0},
		{"writing within writeStall", []conn{stalled("w", writeStall/5), silent("new", 4, quietGrace/10)}, "", writeStall * 4 / 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newConnPool(nil, len(tt.conns), nopObserver{})
			names := map[*poolConn]string{}
			for _, c := range tt.conns {
				pc := &poolConn{pool: p, opened: now.Add(-c.age), waiting: c.waiting, served: c.served}
				pc.heard.Store(c.heard)
				pc.reading.Store(c.inRead)
				if c.writing > 0 {
					pc.writeFrom.Store(int64(c.age-c.writing) + 1)
				}
				p.conns[pc], names[pc] = struct{}{}, c.name
			}
			victim, retry := p.starved(now, true)
			if names[victim] != tt.want || (tt.retry != 0) != !retry.IsZero() || (tt.retry != 0 && retry.Sub(now) != tt.retry) {
				t.Fatalf("evicts %q, retry in %v; want %q, %v", names[victim], retry.Sub(now), tt.want, tt.retry)
			}
		})
	}
}

// TestStarvedSkipsUnreadBytes: a connection the server looks blocked on
// but whose client's bytes wait in the kernel (the server's goroutine has
// not run again to take them) is not evicted; the one really waiting is.
func TestStarvedSkipsUnreadBytes(t *testing.T) {
	p, raws := serverConns(t, "GET /healthz HTTP/1.1\r\n", "")
	var conns []*poolConn
	for i, raw := range raws {
		c := &poolConn{Conn: raw, pool: p, opened: time.Now().Add(-time.Minute), waiting: uint64(i + 1), served: true}
		c.reading.Store(true)
		p.conns[c] = struct{}{}
		conns = append(conns, c)
	}
	waitFor(t, "the request's bytes in the kernel", func() bool { n, ok := unread(conns[0].Conn); return ok && n > 0 })
	if victim, _ := p.starved(time.Now(), true); victim != conns[1] {
		t.Fatalf("evicted the connection with unread bytes (or none): %v", victim == conns[0])
	}
}

// serverConns opens a pool of len(prefixes) slots on a loopback listener
// and, for each prefix, a connection that sent it; it returns the pool
// (which holds none of them) and the server's ends, all closed at the end
// of the test.
func serverConns(t *testing.T, prefixes ...string) (*connPool, []net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	p := newConnPool(ln, len(prefixes), nopObserver{})
	var raws []net.Conn
	for _, prefix := range prefixes {
		dial(t, ln.Addr().String(), prefix)
		raw, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = raw.Close() })
		raws = append(raws, raw)
	}
	return p, raws
}

// TestStalledAnswerEvicted: with every slot serving an answer that its
// client does not read (the server blocked writing it), a probe on a new
// connection evicts the one blocked longest and is answered 200. A
// connection serving a request used to be never evicted, whatever it
// waited on, so the probe was refused.
func TestStalledAnswerEvicted(t *testing.T) {
	s, _ := newTestServer(t, &countingSyncer{}, "", 0)
	obs := &countObserver{}
	s.Observer, s.Metrics, s.Limits = obs, bigAnswer, Limits{MaxConns: 2, MaxHandlers: 2}
	addr := startServer(t, s)
	attack, ctx := testenv.PipelinedUnread(getMetrics), t.Context()
	var ended [2]chan struct{}
	for i := range ended {
		ended[i] = make(chan struct{})
		go func() { attack(ctx, addr, new(atomic.Int64)); close(ended[i]) }()
		waitFor(t, "the answers blocked", func() bool { return stalledConns(s.pool) == i+1 })
	}
	if code, err := testenv.Probe(addr, "/healthz", probeBound); code != http.StatusOK {
		t.Fatalf("/healthz with every slot blocked writing: status %d, %v", code, err)
	}
	select {
	case <-ended[0]:
	case <-time.After(5 * time.Second):
		t.Fatal("the connection blocked longest was not evicted")
	}
	if n := obs.evicted.Load(); n != 1 || stalledConns(s.pool) != 1 {
		t.Fatalf("%d evicted, %d left blocked; want 1 and 1", n, stalledConns(s.pool))
	}
}

// stalledConns is how many connections of p the server has been blocked
// writing for writeStall.
func stalledConns(p *connPool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for c := range p.conns {
		if ok, _, _ := c.stalled(time.Now()); ok {
			n++
		}
	}
	return n
}

// TestUnreadPipelineClosed: a client that pipelines /healthz without
// reading the answers has its connection closed once it is behind, long
// before the answers fill the socket buffers; the server used to answer
// until they were full, then block writing for up to WriteTimeout (30 s).
// A client that reads each answer before asking again keeps its
// connection.
func TestUnreadPipelineClosed(t *testing.T) {
	s, _ := newTestServer(t, &countingSyncer{}, "", 0)
	addr := startServer(t, s)
	ended := make(chan struct{})
	go func() { testenv.PipelinedUnread(getHealthz)(t.Context(), addr, new(atomic.Int64)); close(ended) }()
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the server kept a connection whose client reads none of its answers")
	}
	c := dial(t, addr, "")
	br := bufio.NewReader(c)
	for i := range 3 {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, getHealthz); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Close {
			t.Fatalf("request %d on a connection whose answers are read: status %d, close %v", i, resp.StatusCode, resp.Close)
		}
	}
}

// TestCrowdedPortEndsPipelines: connections pipelining /healthz as fast
// as they read the answers never wait on their client, so none can be
// evicted; they are answered Connection: close (their client is behind,
// or a new connection waits for a slot) and give theirs back, and the
// probes are answered 200 as a kubelet needs (probeDuringFlood). They
// used to hold every slot, and every probe was refused.
func TestCrowdedPortEndsPipelines(t *testing.T) {
	s, _ := newTestServer(t, &countingSyncer{}, "", 0)
	s.Limits = Limits{MaxConns: 3}
	addr := startFloodServer(t, s)
	opened, stop := testenv.RunAttack(3, addr, testenv.Pipelined(getHealthz))
	defer stop()
	waitFor(t, "every slot pipelining", func() bool { h, _ := heldStates(s.pool); return opened.Load() >= 3 && h == 3 })
	for _, f := range probeDuringFlood(t, addr) {
		t.Error(f)
	}
}

// TestKeepAlive: a connection may serve another request unless a new
// connection waits for a slot, or its client has not acknowledged all
// that the server wrote to it (it sent the request before it had the
// answers before).
func TestKeepAlive(t *testing.T) {
	p, raws := serverConns(t, "", "")
	caughtUp := &poolConn{Conn: raws[0], pool: p, opened: time.Now()}
	behind := &poolConn{Conn: raws[1], pool: p, opened: time.Now()}
	go func() { _, _ = behind.Write(make([]byte, 8<<20)) }()
	waitFor(t, "answers the client has not taken", func() bool { n, ok := unacked(behind.Conn); return ok && n > 0 })
	tests := []struct {
		name    string
		c       *poolConn
		crowded bool
		want    bool
	}{
		{"caught up", caughtUp, false, true},
		{"caught up, a new connection waiting", caughtUp, true, false},
		{"behind", behind, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.crowd.Store(tt.crowded)
			r := httptest.NewRequestWithContext(p.connContext(t.Context(), tt.c), http.MethodGet, "/healthz", nil)
			if got := p.keepAlive(r); got != tt.want {
				t.Fatalf("keepAlive = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestProbesWhileVaultHangs: while Vault's check hangs, 300 clients
// asking /readyz over and over do not hold every connection: /healthz is
// answered 200 and /readyz its usual 503 (Vault not checked yet).
func TestProbesWhileVaultHangs(t *testing.T) {
	s, _ := newTestServer(t, &countingSyncer{}, "", 0)
	release := make(chan struct{})
	s.Vault.SetCheck(func(context.Context) error { <-release; return nil })
	addr := startFloodServer(t, s)
	defer close(release)
	opened, stop := testenv.RunAttack(floodConns, addr, testenv.Requests(http.MethodGet, "/readyz", ""))
	defer stop()
	waitFor(t, "the attackers' requests", func() bool { return opened.Load() >= floodConns })
	for i, p := range testenv.ProbeFrom(t, addr, floodProbes) {
		want := map[string]int{"/healthz": http.StatusOK, "/readyz": http.StatusServiceUnavailable}[p.Path]
		if p.Status != want {
			t.Errorf("probe %d, %s: status %d, %s; want %d", i, p.Path, p.Status, p.Err, want)
		}
	}
}

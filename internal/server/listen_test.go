package server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
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
// a silent one past quietGrace, the longest waiting first within each;
// one serving a request, one the server is not reading, and a silent one
// still within quietGrace never go, the last giving the time to look again.
func TestStarvedChoice(t *testing.T) {
	now := time.Now()
	type conn struct {
		name                  string
		waiting               uint64
		served, heard, inRead bool
		age                   time.Duration
	}
	idle := func(n string, w uint64) conn { return conn{n, w, true, true, true, time.Minute} }
	partial := func(n string, w uint64) conn { return conn{n, w, false, true, true, time.Second} }
	silent := func(n string, w uint64, age time.Duration) conn { return conn{n, w, false, false, true, age} }
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
		{"serving", []conn{{"busy", 0, true, true, true, time.Minute}}, "", 0},
		{"not being read", []conn{{"unread", 3, false, true, false, time.Minute}}, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newConnPool(nil, len(tt.conns), nopObserver{})
			names := map[*poolConn]string{}
			for _, c := range tt.conns {
				pc := &poolConn{pool: p, opened: now.Add(-c.age), waiting: c.waiting, served: c.served}
				pc.heard.Store(c.heard)
				pc.reading.Store(c.inRead)
				p.conns[pc], names[pc] = struct{}{}, c.name
			}
			victim, retry := p.starved(now)
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p := newConnPool(ln, 2, nopObserver{})
	var conns []*poolConn
	for i, prefix := range []string{"GET /healthz HTTP/1.1\r\n", ""} {
		dial(t, ln.Addr().String(), prefix)
		raw, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = raw.Close() })
		c := &poolConn{Conn: raw, pool: p, opened: time.Now().Add(-time.Minute), waiting: uint64(i + 1), served: true}
		c.reading.Store(true)
		p.conns[c] = struct{}{}
		conns = append(conns, c)
	}
	waitFor(t, "the request's bytes in the kernel", func() bool { n, ok := unread(conns[0].Conn); return ok && n > 0 })
	if victim, _ := p.starved(time.Now()); victim != conns[1] {
		t.Fatalf("evicted the connection with unread bytes (or none): %v", victim == conns[0])
	}
}

// TestProbesWhileVaultHangs: while Vault's check hangs, 300 clients
// asking /readyz over and over do not hold every connection: /healthz is
// answered 200 and /readyz its usual 503 (Vault not checked yet).
func TestProbesWhileVaultHangs(t *testing.T) {
	s, _ := newTestServer(t, &countingSyncer{}, "", 0)
	release := make(chan struct{})
	s.Vault.SetCheck(func(context.Context) error { <-release; return nil })
	addr := startServer(t, s)
	defer close(release)
	opened, stop := testenv.RunAttack(floodConns, addr, testenv.Requests(http.MethodGet, "/readyz", ""))
	defer stop()
	waitFor(t, "the attackers' requests", func() bool { return opened.Load() >= floodConns })
	for i := range floodProbes {
		path, want := "/healthz", http.StatusOK
		if i%2 == 1 {
			path, want = "/readyz", http.StatusServiceUnavailable
		}
		if code, err := testenv.Probe(addr, path, probeBound); code != want {
			t.Errorf("probe %d, %s: status %d, %v; want %d", i, path, code, err, want)
		}
	}
}

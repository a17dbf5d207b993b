package testenv

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// An Attack is one hostile client of a listen port: it opens a
// connection to addr, counts it in opened, and holds it until the server
// closes it or ctx ends. RunAttack runs many, each opening a new
// connection when its last one is closed.
type Attack func(ctx context.Context, addr string, opened *atomic.Int64)

// HalfOpen starts a POST to path and never finishes its headers.
func HalfOpen(path string) Attack {
	return func(ctx context.Context, addr string, opened *atomic.Int64) {
		c, ok := attackConn(ctx, addr, "POST "+path+" HTTP/1.1\r\nHost: keysync\r\nContent-Type: application/json\r\n", opened)
		if ok {
			_, _ = io.Copy(io.Discard, c)
		}
	}
}

// Silent connects and sends nothing.
func Silent(ctx context.Context, addr string, opened *atomic.Int64) {
	c, ok := attackConn(ctx, addr, "", opened)
	if ok {
		_, _ = io.Copy(io.Discard, c)
	}
}

// Trickle sends a POST's headers to path, then its body a byte every
// 100 ms, reading whatever the server answers.
func Trickle(path string) Attack {
	return func(ctx context.Context, addr string, opened *atomic.Int64) {
		c, ok := attackConn(ctx, addr, "POST "+path+" HTTP/1.1\r\nHost: keysync\r\nContent-Type: application/json\r\nContent-Length: 65536\r\n\r\n[", opened)
		for ok {
			_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			_, err := c.Read(make([]byte, 512))
			switch {
			case errors.Is(err, os.ErrDeadlineExceeded):
				_, err = c.Write([]byte(" "))
				ok = err == nil
			case err != nil:
				ok = false
			}
		}
	}
}

// UnreadAnswer asks for path and, once a 200 answer starts, reads no
// more of it, so that the server blocks writing it.
func UnreadAnswer(path string) Attack {
	return func(ctx context.Context, addr string, opened *atomic.Int64) {
		c, ok := attackConn(ctx, addr, "GET "+path+" HTTP/1.1\r\nHost: keysync\r\n\r\n", opened)
		if !ok {
			return
		}
		head := make([]byte, 12)
		if _, err := io.ReadFull(c, head); err == nil && string(head) == "HTTP/1.1 200" {
			<-ctx.Done()
			return
		}
		_, _ = io.Copy(io.Discard, c)
	}
}

// PipelinedUnread sends request over and over on one connection, never
// reading an answer, through a receive window of about a KiB: the server
// ends up blocked writing an answer, with requests it has not read
// behind it.
func PipelinedUnread(request string) Attack { return pipelined(request, false) }

// Pipelined sends request over and over on one connection, reading the
// answers as they come but never waiting for one: the server always has
// the next request at hand, so the connection never waits on its client.
func Pipelined(request string) Attack { return pipelined(request, true) }

func pipelined(request string, read bool) Attack {
	chunk := strings.Repeat(request, 64)
	d := &net.Dialer{}
	if !read {
		d.Control = tinyWindow
	}
	return func(ctx context.Context, addr string, opened *atomic.Int64) {
		c, ok := dialAttack(ctx, d, addr, "", opened)
		if !ok {
			return
		}
		defer func() { _ = c.Close() }()
		if read {
			go func() { _, _ = io.Copy(io.Discard, c) }()
		}
		for ok {
			_, err := io.WriteString(c, chunk)
			ok = err == nil
		}
	}
}

// tinyWindow asks for a receive buffer of 1 KiB (the kernel doubles it,
// and raises it to its minimum), so that a few answers fill the window.
func tinyWindow(_, _ string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 1024) })
	return cmp.Or(err, serr)
}

// Requests sends method path with body (none when empty) and no
// credentials, one request after another on a keep-alive connection, as
// fast as they are answered; opened counts the requests sent.
func Requests(method, path, body string) Attack {
	return func(ctx context.Context, addr string, opened *atomic.Int64) {
		client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
		defer client.CloseIdleConnections()
		for ctx.Err() == nil {
			req, _ := http.NewRequestWithContext(ctx, method, "http://"+addr+path, strings.NewReader(body))
			if body == "" {
				req.Body = http.NoBody
			}
			req.Header.Set("Content-Type", "application/json")
			opened.Add(1)
			resp, err := client.Do(req)
			if err != nil {
				continue
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		}
	}
}

// attackConn dials addr and writes prefix; the connection closes when ctx
// ends.
func attackConn(ctx context.Context, addr, prefix string, opened *atomic.Int64) (net.Conn, bool) {
	return dialAttack(ctx, &net.Dialer{}, addr, prefix, opened)
}

// dialAttack is attackConn through d.
func dialAttack(ctx context.Context, d *net.Dialer, addr, prefix string, opened *atomic.Int64) (net.Conn, bool) {
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, false
	}
	context.AfterFunc(ctx, func() { _ = c.Close() })
	if _, err := io.WriteString(c, prefix); err != nil {
		_ = c.Close()
		return nil, false
	}
	opened.Add(1)
	return c, true
}

// RunAttack runs n attackers against addr until stop, which waits for
// them to end; opened counts their connections (or requests).
func RunAttack(n int, addr string, a Attack) (opened *atomic.Int64, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	opened = new(atomic.Int64)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for ctx.Err() == nil {
				a(ctx, addr, opened)
			}
		})
	}
	return opened, func() { cancel(); wg.Wait() }
}

// Probe asks path on a new connection within bound, sending the request
// as soon as it is connected, as the kubelet does, and returns the
// answer's status.
func Probe(addr, path string, bound time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, err
	}
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(bound))
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: keysync\r\nConnection: close\r\n\r\n"); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

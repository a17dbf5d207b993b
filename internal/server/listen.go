package server

import (
	"net"
	"sync"
	"time"
)

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
	// MaxConns bounds open connections; one over it is closed at once.
	MaxConns int
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
}

// limitListener closes connections beyond its slots at once instead of queueing
// them, so a flood of idle connections cannot delay the ones after it.
type limitListener struct {
	net.Listener
	slots chan struct{}
	// refused counts the connections closed for want of a slot.
	refused func()
}

func newLimitListener(ln net.Listener, slots int, refused func()) net.Listener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, slots), refused: refused}
}

// Accept returns the next connection that finds a free slot.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &slotConn{Conn: c, release: func() { <-l.slots }}, nil
		default:
			_ = c.Close()
			l.refused()
		}
	}
}

// slotConn gives its slot back when closed, once.
type slotConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *slotConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

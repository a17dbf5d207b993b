package armemu

import (
	"net"
	"net/http"
	"strconv"
	"time"
)

// Fault kinds.
const (
	// FaultStatus answers Status with a CloudError of Code and Message.
	FaultStatus = "status"
	// FaultReset closes the connection without an answer (a TCP reset).
	FaultReset = "reset"
	// FaultTruncated answers 200 with JSON cut off half way.
	FaultTruncated = "truncated"
	// FaultHTML answers 502 with an HTML page, as a gateway does.
	FaultHTML = "html"
	// FaultHang never answers; the client must time out.
	FaultHang = "hang"
)

// Fault is one injected failure.
type Fault struct {
	Kind       string `json:"kind"`
	Status     int    `json:"status,omitempty"`
	Code       string `json:"code,omitempty"`
	Message    string `json:"message,omitempty"`
	RetryAfter int    `json:"retryAfter,omitempty"` // seconds
	// Times is how many requests the fault hits; 0 means every one.
	Times int `json:"times,omitempty"`
}

// InjectFault queues f for the account's next requests. Queued faults are
// served in order; a fault with Times 0 stays until ClearFaults.
func (e *Emulator) InjectFault(sub, rg, name string, f Fault) {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := resourceKey(sub, rg, name)
	e.faults[k] = append(e.faults[k], f)
}

// ClearFaults removes every fault queued for an account.
func (e *Emulator) ClearFaults(sub, rg, name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.faults, resourceKey(sub, rg, name))
}

// nextFault takes the account's next fault; e.mu is held.
func (e *Emulator) nextFault(k string) (Fault, bool) {
	q := e.faults[k]
	if len(q) == 0 {
		return Fault{}, false
	}
	f := q[0]
	if f.Times > 0 {
		q[0].Times--
		if q[0].Times == 0 {
			q = q[1:]
		}
		e.faults[k] = q
	}
	return f, true
}

// serveFault answers with f and reports whether it did.
func (e *Emulator) serveFault(w http.ResponseWriter, r *http.Request, f Fault) bool {
	switch f.Kind {
	case FaultStatus:
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
		}
		cloudError(w, f.Status, f.Code, f.Message)
	case FaultReset:
		resetConnection(w)
	case FaultTruncated:
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"accountName": "`))
	case FaultHTML:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>\n"))
	case FaultHang:
		e.hang(r)
	default:
		return false
	}
	return true
}

// resetConnection takes the connection from net/http and closes it with
// SO_LINGER 0, so the client sees a reset rather than a clean close.
func resetConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := underlyingTCP(conn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

func underlyingTCP(c net.Conn) (*net.TCPConn, bool) {
	type netConner interface{ NetConn() net.Conn }
	for {
		switch v := c.(type) {
		case *net.TCPConn:
			return v, true
		case netConner:
			c = v.NetConn()
		default:
			return nil, false
		}
	}
}

// hang holds the request until the client gives up or the emulator closes,
// and at most ten minutes.
func (e *Emulator) hang(r *http.Request) {
	e.hangs.Add(1)
	defer e.hangs.Done()
	select {
	case <-r.Context().Done():
	case <-e.closing:
	case <-time.After(10 * time.Minute):
	}
}

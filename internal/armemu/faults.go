package armemu

import (
	"cmp"
	"net"
	"net/http"
	"strconv"
	"strings"
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
	// FaultHugeBody answers Status with a body of Size bytes, generated as
	// it streams (nothing that size is held in memory).
	FaultHugeBody = "huge-body"
	// FaultCutBody answers Status with a Content-Length larger than the
	// body it writes, then drops the connection mid-body.
	FaultCutBody = "cut-body"
	// FaultRedirect answers Status (307 if 0) with Location.
	FaultRedirect = "redirect"
	// FaultBadKey answers 200 with the account's keys, but with Field's
	// value replaced by Value.
	FaultBadKey = "bad-key"
	// FaultRaw answers Status (200 if 0) with Body verbatim as JSON: a
	// hostile or malformed answer (a foreign nextLink, a row of another
	// type, a page that says it is truncated).
	FaultRaw = "raw"
	// FaultQuota answers a Resource Graph query as the caller's quota does
	// when another client of the same identity has used it up: 429
	// RateLimiting, x-ms-user-quota-remaining 0 and
	// x-ms-user-quota-resets-after RetryAfter seconds (1 if 0), with
	// Retry-After only when RetryAfter is set.
	FaultQuota = "quota"
)

// Fault is one injected failure.
type Fault struct {
	Kind       string `json:"kind"`
	Status     int    `json:"status,omitempty"`
	Code       string `json:"code,omitempty"`
	Message    string `json:"message,omitempty"`
	RetryAfter int    `json:"retryAfter,omitempty"` // seconds
	// RetryAfterRaw, when set, is sent as Retry-After verbatim, however
	// absurd.
	RetryAfterRaw string `json:"retryAfterRaw,omitempty"`
	// Size is FaultHugeBody's body size in bytes.
	Size int64 `json:"size,omitempty"`
	// Location is FaultRedirect's target.
	Location string `json:"location,omitempty"`
	// Field and Value are FaultBadKey's replaced key.
	Field string `json:"field,omitempty"`
	Value string `json:"value,omitempty"`
	// Body is FaultRaw's answer.
	Body string `json:"body,omitempty"`
	// Times is how many requests the fault hits; 0 means every one.
	Times int `json:"times,omitempty"`
	// Skip is how many requests pass untouched before the fault hits
	// (to fail the third page of a list, say).
	Skip int `json:"skip,omitempty"`
	// Action, when set, limits the fault to requests for that action
	// (such as "regenerateKeys"); others pass it by.
	Action string `json:"action,omitempty"`
}

// InjectFault queues f for the resource's next requests. Queued faults are
// served in order; a fault with Times 0 stays until ClearFaults.
func (e *Emulator) InjectFault(r Resource, f Fault) {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := r.key()
	e.faults[k] = append(e.faults[k], f)
}

// ClearFaults removes every fault queued for a resource.
func (e *Emulator) ClearFaults(r Resource) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.faults, r.key())
}

// nextFault takes the account's next fault for action; e.mu is held.
func (e *Emulator) nextFault(k, action string) (Fault, bool) {
	q := e.faults[k]
	if len(q) == 0 || (q[0].Action != "" && !strings.EqualFold(q[0].Action, action)) {
		return Fault{}, false
	}
	if q[0].Skip > 0 {
		q[0].Skip--
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
		setRetryAfter(w, f)
		cloudError(w, f.Status, f.Code, f.Message)
	case FaultHugeBody:
		e.hugeBody(w, r, f)
	case FaultCutBody:
		cutBody(w, f)
	case FaultRedirect:
		w.Header().Set("Location", f.Location)
		w.WriteHeader(cmp.Or(f.Status, http.StatusTemporaryRedirect))
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
	case FaultQuota:
		quotaExceeded(w, time.Duration(max(f.RetryAfter, 1))*time.Second, f.RetryAfter > 0)
	case FaultRaw:
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(cmp.Or(f.Status, http.StatusOK))
		_, _ = w.Write([]byte(f.Body))
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

func setRetryAfter(w http.ResponseWriter, f Fault) {
	switch {
	case f.RetryAfterRaw != "":
		w.Header().Set("Retry-After", f.RetryAfterRaw)
	case f.RetryAfter > 0:
		w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
	}
}

// hugeBody streams f.Size bytes of a JSON-looking error body, chunked,
// until done or the client hangs up.
func (e *Emulator) hugeBody(w http.ResponseWriter, r *http.Request, f Fault) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	setRetryAfter(w, f)
	w.WriteHeader(cmp.Or(f.Status, http.StatusInternalServerError))
	chunk := make([]byte, 32<<10)
	for i := range chunk {
		chunk[i] = ' '
	}
	copy(chunk, `{"error":{"code":"InternalServerError","message":"`)
	for left := f.Size; left > 0; left -= int64(len(chunk)) {
		if r.Context().Err() != nil || e.isClosing() {
			return
		}
		if _, err := w.Write(chunk[:min(left, int64(len(chunk)))]); err != nil {
			return
		}
		chunk[0] = 'x' // only the first chunk opens the JSON
	}
}

func (e *Emulator) isClosing() bool {
	select {
	case <-e.closing:
		return true
	default:
		return false
	}
}

// cutBody promises a body it does not finish, then drops the connection.
func cutBody(w http.ResponseWriter, f Fault) {
	part := []byte(`{"error":{"code":"ServiceUnavailable","message":"the body of this answer is cut`)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(part)*4))
	setRetryAfter(w, f)
	w.WriteHeader(cmp.Or(f.Status, http.StatusServiceUnavailable))
	_, _ = w.Write(part)
	if fl, ok := w.(http.Flusher); ok {
		fl.Flush()
	}
	panic(http.ErrAbortHandler)
}

// InjectTokenFault makes the managed-identity endpoint answer f to token
// requests for clientID ("" for the system-assigned identity), as
// InjectFault does for an account. Status faults answer the endpoint's own
// JSON error shape.
func (e *Emulator) InjectTokenFault(clientID string, f Fault) {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := tokenFaultKey(clientID)
	e.faults[k] = append(e.faults[k], f)
}

// ClearTokenFaults removes every token fault queued for clientID.
func (e *Emulator) ClearTokenFaults(clientID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.faults, tokenFaultKey(clientID))
}

// TokenRequests is how many token requests for clientID have arrived.
func (e *Emulator) TokenRequests(clientID string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.requests[tokenFaultKey(clientID)]
}

// tokenFaultKey keys token faults and counts beside the accounts' own,
// where no resource id can collide with it.
func tokenFaultKey(clientID string) string { return "token|" + clientID }

// tokenFault counts a token request and serves its fault, if any.
func (e *Emulator) tokenFault(w http.ResponseWriter, r *http.Request, clientID string) bool {
	k := tokenFaultKey(clientID)
	e.mu.Lock()
	e.requests[k]++
	f, ok := e.nextFault(k, "")
	e.mu.Unlock()
	if !ok {
		return false
	}
	if f.Kind == FaultStatus {
		setRetryAfter(w, f)
		writeJSON(w, f.Status, map[string]any{"statusCode": f.Status, "message": f.Message})
		return true
	}
	return e.serveFault(w, r, f)
}

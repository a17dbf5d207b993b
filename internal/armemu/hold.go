package armemu

import (
	"net/http"
	"sync"
	"time"
)

// FaultHold holds a request to the resource, before it is answered,
// until Release is called for the resource (or the client gives up, or
// the emulator closes, and at most ten minutes); then the request is
// answered as if no fault had been queued. It is a slow answer whose end
// the test decides, where a latency would race the test's own steps.
const FaultHold = "hold"

// holds are the gates FaultHold waits at, by resource key, under their
// own lock (never taken with Emulator.mu held).
type holds struct {
	mu      sync.Mutex
	gates   map[string]chan struct{}
	waiting map[string]int
}

// Release lets through every request a FaultHold holds for the resource
// now. A request the fault holds later waits for the next Release.
func (e *Emulator) Release(r Resource) {
	h := &e.held
	h.mu.Lock()
	defer h.mu.Unlock()
	k := r.key()
	if g, ok := h.gates[k]; ok {
		close(g)
		delete(h.gates, k)
	}
}

// Held is how many requests a FaultHold holds for the resource now.
func (e *Emulator) Held(r Resource) int {
	h := &e.held
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.waiting[r.key()]
}

// hold waits at the resource's gate until it is released, the client
// goes away, or the emulator closes.
func (e *Emulator) hold(r *http.Request, k string) {
	gate := e.held.enter(k)
	defer e.held.leave(k)
	e.hangs.Add(1)
	defer e.hangs.Done()
	select {
	case <-gate:
	case <-r.Context().Done():
	case <-e.closing:
	case <-time.After(10 * time.Minute):
	}
}

// enter counts a held request and returns the gate it waits at.
func (h *holds) enter(k string) chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gates == nil {
		h.gates, h.waiting = map[string]chan struct{}{}, map[string]int{}
	}
	g, ok := h.gates[k]
	if !ok {
		g = make(chan struct{})
		h.gates[k] = g
	}
	h.waiting[k]++
	return g
}

// leave counts a held request out.
func (h *holds) leave(k string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.waiting[k]--
}

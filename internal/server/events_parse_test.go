package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
)

// TestRecentIDsBounded: the set remembers the last n ids and forgets the
// oldest first; its size never passes n.
func TestRecentIDsBounded(t *testing.T) {
	r := newRecentIDs(3)
	for i := range 10 {
		r.add(fmt.Sprint("id", i))
		if len(r.set) > 3 || len(r.ring) > 3 {
			t.Fatalf("after %d ids the set holds %d, the ring %d; want at most 3", i+1, len(r.set), len(r.ring))
		}
	}
	for i := range 10 {
		if want := i >= 7; r.has(fmt.Sprint("id", i)) != want {
			t.Fatalf("has(id%d) = %v, want %v", i, !want, want)
		}
	}
	r.add("id9") // again: counted twice, forgotten once
	r.add("x")
	r.add("y")
	if !r.has("id9") {
		t.Fatal("an id added twice was forgotten with its first copy")
	}
}

// FuzzParseEvents: whatever the body, parsing returns events or an error
// of one bounded line, never a panic, and keyChange never panics on what
// it returns.
func FuzzParseEvents(f *testing.F) {
	ev := resourceEvent("e", "Microsoft.Resources.ResourceActionSuccess", regenBatch, batchAcct.ResourceID())
	b, _ := json.Marshal([]any{ev})
	c, _ := json.Marshal(cloudEvent(ev))
	for _, seed := range []string{string(b), string(c), "[]", "[{}]", `[{"id":"x","eventType":"t","data":[1]}]`, "\x00", `{"specversion":"1.0"}`} {
		f.Add(seed, true)
		f.Add(seed, false)
	}
	f.Fuzz(func(t *testing.T, body string, batch bool) {
		schema := SchemaEventGrid
		if !batch {
			schema = SchemaCloudEvents
		}
		evs, err := parseEvents([]byte(body), schema, batch, 50)
		if err != nil {
			if msg := err.Error(); strings.Contains(msg, "\n") || len(msg) > 400 {
				t.Fatalf("error of %d bytes or on more than one line: %q", len(msg), msg)
			}
			return
		}
		if len(evs) == 0 || len(evs) > 50 {
			t.Fatalf("%d events from a successful parse", len(evs))
		}
		for i := range evs {
			keyChange(&evs[i])
		}
	})
}

// TestStatusShowsEventCounts: GET /status carries the webhook's counts.
func TestStatusShowsEventCounts(t *testing.T) {
	e := newEventsEnv(t, nil)
	e.post("application/json", "[]", func(r *http.Request) { r.Header.Del("X-Keysync-Secret") })
	s := &Server{Scheduler: e.sched, Logger: e.h.Logger, Metrics: http.NotFoundHandler(), Events: e.h, Token: mustToken(t, testToken, 0o600),
		Vault: NewVaultProbe(nil, 0, e.h.Logger)}
	r := httptest.NewRequest(http.MethodGet, "/status", nil)
	r.Header.Set("Authorization", "Bearer "+testToken)
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	var reply StatusReply
	if err := json.Unmarshal(w.Body.Bytes(), &reply); err != nil || reply.Events[outUnauthorized] != 1 {
		t.Fatalf("status %d events %v (%v): want 1 unauthorized", w.Code, reply.Events, err)
	}
}

// TestEventsOversizedNotRead: a delivery whose Content-Length is over the
// limit gets 413 before a byte of it is read.
func TestEventsOversizedNotRead(t *testing.T) {
	e := newEventsEnv(t, nil)
	w := e.post("application/json", "", func(r *http.Request) {
		r.Body, r.ContentLength = io.NopCloser(failReader{t}), e.h.MaxBody+1
	})
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", w.Code)
	}
}

// TestEventsFloodHoldsNothing: 20,000 unmanaged, irrelevant and duplicate
// events leave the id set at its bound, no sync queued and the heap where
// it was.
func TestEventsFloodHoldsNothing(t *testing.T) {
	e := newEventsEnv(t, func(h *EventsHandler) { h.Dedupe, h.MaxEvents = 500, 100 })
	batch := func(b int) string {
		evs := make([]any, 100)
		for i := range evs {
			n := b*100 + i
			id := strings.Replace(batchAcct.ResourceID(), "batch1", fmt.Sprint("other", n), 1)
			switch n % 3 {
			case 0:
				evs[i] = resourceEvent(fmt.Sprint("u", n), "Microsoft.Resources.ResourceActionSuccess", regenBatch, id)
			case 1:
				evs[i] = resourceEvent(fmt.Sprint("l", n), "Microsoft.Resources.ResourceActionSuccess", "Microsoft.Batch/batchAccounts/listKeys/action", batchAcct.ResourceID())
			default:
				evs[i] = resourceEvent(fmt.Sprint("u", n-2), "Microsoft.Resources.ResourceActionSuccess", regenBatch, id)
			}
		}
		return mustJSON(t, evs)
	}
	e.post("application/json", batch(0)) // warm up
	before := heapInUse()
	for b := 1; b <= 200; b++ {
		if w := e.post("application/json", batch(b)); w.Code != http.StatusOK {
			t.Fatalf("batch %d: %d %s", b, w.Code, w.Body)
		}
	}
	after := heapInUse()
	if len(e.h.seen.set) > 500 || e.sched.TargetsPending() != 0 || e.syncer.calls.Load() != 0 {
		t.Fatalf("%d ids held (bound 500), %d syncs pending, %d synced", len(e.h.seen.set), e.sched.TargetsPending(), e.syncer.calls.Load())
	}
	if after > before+1<<20 {
		t.Fatalf("the heap grew from %d to %d bytes over 20,000 events", before, after)
	}
}

// heapInUse is the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

package estate

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/discovery"
)

// bulkFinder answers with n Batch accounts in 500 subscriptions, each
// string its own allocation, as a decoded Resource Graph answer holds
// them.
type bulkFinder struct{ n int }

func (f bulkFinder) Discover(_ context.Context, sel sources.Selector, _ string) ([]sources.Found, []sources.Skipped, error) {
	out := make([]sources.Found, 0, f.n)
	for i := range f.n {
		out = append(out, sources.Found{Account: sources.Account{
			SubscriptionID: fmt.Sprintf("%08d-0000-4000-8000-%012d", i%500, i%500),
			ResourceGroup:  strings.Clone("bench"), Name: fmt.Sprintf("acct%07d", i), Type: sel.Type}})
	}
	return out, nil, nil
}

// heapObjects is the heap's objects, live and not yet swept.
func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// BenchmarkFirstDiscovery is a daemon's first discovery of 100,000
// accounts (nothing in the store yet, so it recalls nothing and decides
// twice, as at a start), handed to a real scheduler, at start-up's GOGC
// of 25: the heap's high-water mark over the discovery against what the
// scheduler holds after it, per account (issue #25 item 2; the daemon's
// RSS is measured by `go run ./bench -only scale-discover-100k`).
//
//	go test -run '^$' -bench FirstDiscovery -benchtime 3x ./sync/estate
func BenchmarkFirstDiscovery(b *testing.B) {
	const n = 100_000
	cfg := Config{Blocks: []discovery.Block{{Name: "bench", Selector: sources.Selector{Type: "batch"}, Path: "bench/d/{name}", OnRemoved: "mark"}},
		MaxRemovedFraction: 1, Every: time.Hour}
	defer debug.SetGCPercent(debug.SetGCPercent(25))
	var peak, kept float64
	for b.Loop() {
		b.StopTimer()
		h := newHarness(b, cfg)
		p := h.parts()
		p.Finder = bulkFinder{n: n}
		h.e.parts = p
		runtime.GC()
		base := heapObjects()
		var top atomic.Uint64
		stop, done := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			for {
				top.Store(max(top.Load(), heapObjects()))
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Microsecond):
				}
			}
		}()
		b.StartTimer()
		h.e.Discover(h.ctx)
		b.StopTimer()
		close(stop)
		<-done
		runtime.GC()
		after := heapObjects()
		peak += float64(top.Load()-base) / n
		kept += float64(after-base) / n
		held := 0
		for range h.sched.Kept(isDiscovered) {
			held++
		}
		if held != n {
			b.Fatalf("the scheduler holds %d accounts, want %d", held, n)
		}
		b.StartTimer()
	}
	b.ReportMetric(peak/float64(b.N), "peak-B/account")
	b.ReportMetric(kept/float64(b.N), "held-B/account")
	b.ReportMetric(peak/kept, "peak/held")
}

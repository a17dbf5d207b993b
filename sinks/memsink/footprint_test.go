package memsink_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/keysync/keysync/secret"
	"github.com/keysync/keysync/sinks"
	"github.com/keysync/keysync/sinks/memsink"
	"github.com/keysync/keysync/sync/plan"
)

// BenchmarkFootprint reports the live heap one secret takes in a Sink,
// shaped as keysync's create of a discovered Batch account makes it (two
// 88-character keys, the data mark, provenance and discovery metadata):
// what the million-account benchmark's RSS holds for its in-memory store,
// beside keysync's own. go test -run '^$' -bench Footprint ./sinks/memsink
func BenchmarkFootprint(b *testing.B) {
	const n = 100_000
	key := strings.Repeat("k", 86) + "=="
	write := func(i int) sinks.Write { // every string its own, as a listKeys answer's are
		id := fmt.Sprintf("/subscriptions/%08d-0000-0000-0000-000000000000/resourceGroups/rg-%d/providers/Microsoft.Batch/batchAccounts/acct%07d", i%5000, i%5000, i)
		d := plan.Desired{Fields: secret.Fields{"primary": secret.New(strings.Clone(key)), "secondary": secret.New(strings.Clone(key))},
			ResourceID: id, APIVersion: "2024-02-01", DiscoveredBy: "bench", DiscoveryScope: "all"}
		return plan.Calculate(sinks.State{Versioned: true}, d, time.Unix(1_800_000_000, 0)).Write
	}
	for b.Loop() {
		s := memsink.New()
		before := liveHeap()
		for i := range n {
			if err := s.Write(context.Background(), fmt.Sprintf("bench/c1/acct%07d", i), write(i)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(liveHeap()-before)/n, "B/secret")
		runtime.KeepAlive(s)
	}
}

func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

package discovery

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/keysync/keysync/sources"
)

// BenchmarkStatePerAccount reports the heap a discovery's State holds per
// account found, the daemon keeping it until the next run (the finder's
// answer and the Outcome are dropped): go test -run '^$' -bench
// StatePerAccount ./sync/discovery/
func BenchmarkStatePerAccount(b *testing.B) {
	const n = 10_000
	found := make([]sources.Found, n)
	for i := range found {
		found[i] = sources.Found{Account: sources.Account{SubscriptionID: fmt.Sprintf("%08d-0000-4000-8000-%012d", 1, i%100),
			ResourceGroup: "rg", Name: fmt.Sprintf("acct%06d", i), Type: sources.DefaultType}}
	}
	f := &finder{found: map[string][]sources.Found{sources.DefaultType: found}}
	blocks := []Block{block("all", sources.DefaultType, "")}
	var perAccount float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, st := Run(context.Background(), f, blocks, nil, nil, Options{MaxRemovedFraction: 0.5})
		runtime.GC()
		runtime.ReadMemStats(&after)
		perAccount = (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / n
		runtime.KeepAlive(st)
	}
	b.ReportMetric(perAccount, "heap-B/account")
}

package discovery

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"unsafe"

	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/runner"
)

// BenchmarkStatePerAccount reports the heap a discovery's State holds per
// account found, the daemon keeping it until the next run (the finder's
// answer and the Outcome are dropped), once it shares the caller's copy
// of each job as the daemon does (the copies are not counted): go test
// -run '^$' -bench StatePerAccount ./sync/discovery/
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
		out, st := Run(context.Background(), f, blocks, nil, nil, Options{MaxRemovedFraction: 0.5})
		held := make([]runner.Job, len(out.Jobs))
		for i, fj := range out.Jobs {
			held[i] = fj.Job
			st.Share(&held[i])
		}
		out = Outcome{}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perAccount = (float64(after.HeapAlloc) - float64(before.HeapAlloc) - float64(unsafe.Sizeof(runner.Job{}))*n) / n
		runtime.KeepAlive(st)
		runtime.KeepAlive(held)
		runtime.KeepAlive(out)
	}
	b.ReportMetric(perAccount, "heap-B/account")
}

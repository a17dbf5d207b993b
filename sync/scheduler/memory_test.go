package scheduler

import (
	"context"
	"runtime"
	"testing"
)

// BenchmarkHeldPerAccount reports the heap a scheduler holds per account
// once every account has synced: the account packed (the slice it was
// given is the caller's, and counted before), its state, its place in the
// queues and maps, and its published status. go
// test -run '^$' -bench HeldPerAccount ./sync/scheduler/
func BenchmarkHeldPerAccount(b *testing.B) {
	const n = 10_000
	var perAccount float64
	for b.Loop() {
		accts := benchAccounts(n)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := New(Options{Concurrency: 16, SyncOnStart: true, Clock: newFakeClock(t0)}, &instantSyncer{}, accts)
		syncAll(s, n)
		runtime.GC()
		runtime.ReadMemStats(&after)
		perAccount = (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / n
		runtime.KeepAlive(s)
		runtime.KeepAlive(accts)
	}
	b.ReportMetric(perAccount, "heap-B/account")
}

// syncAll turns the loop until n syncs have been settled.
func syncAll(s *Scheduler, n int) {
	ctx := context.Background()
	for done := 0; done < n; {
		s.turn(ctx, t0)
		started := s.running // this goroutine is the loop here
		for range started {
			s.settle(<-s.done, t0)
			done++
		}
	}
}

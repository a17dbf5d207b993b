package scheduler

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/account"
	"github.com/keysync/keysync/sync/plan"
	"github.com/keysync/keysync/sync/runner"
)

// instantSyncer answers every sync at once, unchanged.
type instantSyncer struct{ calls atomic.Int64 }

func (s *instantSyncer) Sync(_ context.Context, job account.Job) runner.Result {
	s.calls.Add(1)
	return runner.Result{Job: job, Change: plan.Change{Action: plan.Unchanged}}
}

// benchAccounts are n hourly accounts over 100 subscriptions; with an
// hour's splay their ticks spread over the hour.
func benchAccounts(n int) []Account {
	sched, err := cron.ParseStandard("@hourly")
	if err != nil {
		panic(err)
	}
	out := make([]Account, n)
	for i := range out {
		name := fmt.Sprintf("acct%06d", i)
		out[i] = Account{Label: name, Schedule: &Schedule{Spec: "@hourly", Schedule: sched}, Job: account.Job{
			Account: sources.Account{SubscriptionID: fmt.Sprintf("sub%03d", i%100), ResourceGroup: "rg", Name: name}, Path: "azure/" + name}}
	}
	return out
}

var benchSizes = []int{10_000, 100_000}

// BenchmarkTurn is one turn of the loop in steady state: the clock moves
// by an hour / n, so about one account falls due and is started, and its
// sync is settled. go test -run '^$' -bench . ./sync/scheduler/
func BenchmarkTurn(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("accounts=%d", n), func(b *testing.B) {
			now := t0
			syncer := &instantSyncer{}
			s := New(Options{Concurrency: 16, Splay: time.Hour, Clock: newFakeClock(t0)}, syncer, benchAccounts(n))
			ctx := context.Background()
			step := time.Hour / time.Duration(n)
			b.ResetTimer()
			for b.Loop() {
				now = now.Add(step)
				s.turn(ctx, now)
				started := s.running // this goroutine is the loop here
				for range started {
					f := <-s.done
					s.settle(f, now)
				}
			}
			b.ReportMetric(float64(syncer.calls.Load())/float64(b.N), "syncs/turn")
		})
	}
}

// BenchmarkTurnNothingDue is a turn that finds no account due, as most
// turns between two ticks do.
func BenchmarkTurnNothingDue(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("accounts=%d", n), func(b *testing.B) {
			s := New(Options{Concurrency: 16, Splay: time.Hour, Clock: newFakeClock(t0)}, &instantSyncer{}, benchAccounts(n))
			ctx := context.Background()
			for b.Loop() {
				s.turn(ctx, t0)
			}
		})
	}
}

// BenchmarkReadyzDuringTurns is what /readyz asks of the scheduler
// (Overdue), while another goroutine turns the loop without pause.
func BenchmarkReadyzDuringTurns(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("accounts=%d", n), func(b *testing.B) {
			s := New(Options{Concurrency: 16, Splay: time.Hour, Clock: newFakeClock(t0)}, &instantSyncer{}, benchAccounts(n))
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				for ctx.Err() == nil {
					s.turn(ctx, t0)
				}
			}()
			b.ResetTimer()
			for b.Loop() {
				if len(s.Overdue(t0)) != 0 {
					b.Fatal("overdue")
				}
			}
			b.StopTimer()
			cancel()
			<-done
		})
	}
}

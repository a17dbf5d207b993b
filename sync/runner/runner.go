// Package runner acts on plans. One sync reads top to bottom: fetch the
// account's keys from the source, read what the sink holds, ask package plan
// what to do (rotation included), and, unless it is a dry run, apply the
// change. Jobs run with bounded concurrency, a failing job never stops the
// others, and transient errors are retried within the run.
package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/keysync/keysync/fault"
	"github.com/keysync/keysync/secret"
	"github.com/keysync/keysync/sinks"
	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/account"
	"github.com/keysync/keysync/sync/derive"
	"github.com/keysync/keysync/sync/plan"
)

// Result is what happened to one job.
type Result struct {
	Job account.Job
	// Change is the plan, without the values it wrote (plan.Change.Redact).
	Change plan.Change
	// Err is nil when the job succeeded (a refusal is an error too).
	Err error
	// Attempts counts tries, retries included.
	Attempts int
	Duration time.Duration
}

// ErrRefused marks a result whose plan was a refusal.
var ErrRefused = errors.New("refused")

// Runner syncs jobs.
type Runner struct {
	Source sources.Source
	Sink   sinks.Sink
	Logger *slog.Logger
	// Concurrency bounds the calls in flight to the source; below 1
	// means 1.
	Concurrency int
	// SubscriptionConcurrency bounds the source calls in flight per
	// subscription (0: only Concurrency), VaultConcurrency the calls in
	// flight to the sink (0: as many as Concurrency).
	SubscriptionConcurrency int
	VaultConcurrency        int
	// Pending holds rotations whose write is outstanding; shared across
	// runners by the daemon. Nil gets a fresh one.
	Pending *Pending
	// RefuseLegacy treats a secret with keysync's metadata mark but not
	// its data mark as another's (plan.Desired.RefuseLegacy).
	RefuseLegacy bool
	// Problems holds the rotation metadata keysync did not trust, by
	// path; shared across runners by the daemon. Nil gets a fresh one.
	Problems *Problems
	// Expiries holds the derived SAS in Vault and when they expire;
	// shared across runners by the daemon. Nil gets a fresh one.
	Expiries *Expiries
	// RegenerateTimeout bounds one regenerate, its polling included;
	// 0 means DefaultRegenerateTimeout. Twice it is how long a record of
	// a regenerate holds the account's rotation back
	// (plan.Rotation.InFlight).
	RegenerateTimeout time.Duration
	// StorageSuffix is the cloud's Storage endpoint suffix, for the
	// connection strings of derived values (derive.StorageSuffix).
	StorageSuffix string
	// DryRun plans and reports without applying.
	DryRun bool
	// DeleteAfter is how long a secret marked gone waits before a removal
	// job with plan.RemoveDelete deletes it (delete_after).
	DeleteAfter time.Duration
	Retry       RetryPolicy
	// Now and Sleep are the clock; nil means the real one.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error

	// held is, by path, the record holding a job's rotation back, so
	// that it is logged once (noteHeld).
	held sync.Map
	// props holds the accounts' properties their GETs answered (props.go).
	props propCache
	// memo spares an unchanged cycle re-signing the derived values it
	// proved the cycle before (derive.Memo).
	memo       *derive.Memo
	once       sync.Once
	subSems    *subscriptionSems
	sourceSems semaphore
	vaultSems  semaphore
}

func (r *Runner) concurrency() int { return max(r.Concurrency, 1) }

// maxConflicts bounds re-plans after check-and-set conflicts in one attempt.
const maxConflicts = 3

// Run syncs every job and returns one result each, in job order. See
// RunEach for how the work is shared out.
func (r *Runner) Run(ctx context.Context, jobs []account.Job) []Result {
	results := make([]Result, len(jobs))
	r.RunEach(ctx, jobs, func(i int, res Result) { results[i] = res })
	return results
}

// RunEach syncs every job and hands each result to done, with the job's
// index, as it finishes: a caller that keeps only what it needs of each
// (a report line, counters) holds one result per worker, not one per
// job. A fixed pool of workers does the work, so ten thousand jobs cost
// ten thousand results, not ten thousand goroutines. There are as many
// workers as the source and the sink may have calls in flight together:
// while some wait on the sink, Concurrency others keep the source busy,
// so a run takes about as long as its source calls alone. done is called
// from the workers, one call at a time.
func (r *Runner) RunEach(ctx context.Context, jobs []account.Job, done func(i int, res Result)) {
	r.init()
	next := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range min(r.concurrency()+cap(r.vaultSems), len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				res := Result{Job: jobs[i], Err: ctx.Err()}
				if res.Err == nil {
					res = r.Sync(ctx, jobs[i])
					r.report(res)
				}
				mu.Lock()
				done(i, res)
				mu.Unlock()
			}
		}()
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()
}

// Sync runs one job to the end, retrying transient failures as Retry
// allows. It logs retries but not the outcome: Run reports each result, and
// the daemon's scheduler decides what is worth a log line.
func (r *Runner) Sync(ctx context.Context, job account.Job) Result {
	r.init()
	start := r.now()
	res := Result{Job: job}
	for {
		res.Attempts++
		res.Change, res.Err = r.attempt(ctx, job)
		job.Absent = false // a survey's word is good for one read
		wait, retry := r.Retry.next(res.Attempts, res.Err)
		if !retry {
			break
		}
		r.jobLogger(job).Warn("transient failure, retrying", "err", res.Err, "attempt", res.Attempts, "wait", wait.Round(time.Millisecond))
		if err := r.sleep(ctx, wait); err != nil {
			break
		}
	}
	if res.Err != nil {
		r.props.forget(job.Account.Key())
	}
	res.Duration = r.now().Sub(start)
	res.Change = res.Change.Redact()
	return res
}

// attempt is one try, in four steps: fetch the keys, read the sink, plan,
// apply. A check-and-set conflict re-reads and re-plans with the same keys.
func (r *Runner) attempt(ctx context.Context, job account.Job) (plan.Change, error) {
	if job.Remove != "" {
		return r.remove(ctx, job)
	}
	keys, err := r.fetch(ctx, job)
	if err != nil {
		return plan.Change{}, err
	}
	for conflicts := 1; ; conflicts++ {
		cur, err := r.read(ctx, job, conflicts == 1)
		if err != nil {
			return plan.Change{}, err
		}
		ch, err := r.plan(ctx, job, cur, keys)
		if err != nil {
			return ch, err
		}
		if job.Rotate != nil {
			r.noteProblems(job, ch.Rotation.Problems)
			r.noteHeld(job, ch.Rotation)
		}
		if ch.Rotation.Regenerate != "" && !r.DryRun && ch.Action != plan.Refused {
			// No derived value may rest on the key about to be
			// regenerated: those at paths of their own are signed
			// with the key that stays valid first, or nothing is
			// regenerated.
			if err := r.syncOwnPaths(ctx, job, keys, heldActive(job, cur.Data)); err != nil {
				return ch, fmt.Errorf("before regenerating a key: %w", err)
			}
			if keys, ch, err = r.rotate(ctx, job, cur, keys, ch); err != nil {
				return ch, err
			}
		}
		err = r.apply(ctx, job, ch)
		if err == nil && len(job.Derived) > 0 && ch.Action != plan.Refused {
			r.noteWritten(job, job.Path, ownFields(job), cur.Metadata, ch.Write.Metadata)
			err = r.syncOwnPaths(ctx, job, keys, activeKey(job, ch.Rotation.Active))
		}
		if !errors.Is(err, sinks.ErrConflict) || conflicts >= maxConflicts {
			return ch, err
		}
	}
}

// remove is the attempt of an account whose source is gone: read, plan
// the removal, apply. Nothing is fetched: there is nothing to fetch.
//
// The account's derived values at paths of their own go first, each the
// same way (marked, or deleted once the mark is old enough): a refusal
// there never holds back the keys' removal, which a writer of that one
// path could otherwise hold back for good.
func (r *Runner) remove(ctx context.Context, job account.Job) (plan.Change, error) {
	ownErr := r.removeOwnPaths(ctx, job)
	if ownErr != nil && !errors.Is(ownErr, errOwnRefused) {
		return plan.Change{}, ownErr
	}
	ch, err := r.removeAt(ctx, job, job.Path, vaultFields(job))
	if err == nil {
		err = r.apply(ctx, job, ch)
	}
	return ch, cmp.Or(err, ownErr)
}

// removeAt plans the removal of the job's secret at path, which holds
// fields.
func (r *Runner) removeAt(ctx context.Context, job account.Job, path string, fields []string) (plan.Change, error) {
	cur, err := r.sink().Read(ctx, path)
	if err != nil {
		return plan.Change{}, err
	}
	// Removal decides on what Read just returned: KV v2 deletes a
	// secret's metadata without check-and-set, so this read is as close
	// to the delete as Vault allows.
	return plan.Removal(cur, plan.Gone{Policy: job.Remove, ResourceID: job.Account.ResourceID(), Fields: fields,
		DeleteAfter: r.DeleteAfter, RefuseLegacy: r.RefuseLegacy}, r.now()), nil
}

// fetch reads the account's keys and applies the job's fields table.
func (r *Runner) fetch(ctx context.Context, job account.Job) (secret.Fields, error) {
	keys, err := r.source().Fetch(ctx, job.Account)
	if err != nil {
		return nil, err
	}
	return selectFields(keys, job.Fields)
}

// desired is what the job wants at its path, given the keys fetched.
func (r *Runner) desired(job account.Job, keys secret.Fields) plan.Desired {
	d := plan.Desired{Fields: keys, ResourceID: job.Account.ResourceID(), APIVersion: cmp.Or(job.Account.APIVersion, job.Account.Spec().APIVersion),
		Adopt: job.Adopt, Rotate: r.rotation(job), Tags: job.Tags, RefuseLegacy: r.RefuseLegacy}
	if o := job.Origin; o != nil {
		d.DiscoveredBy, d.DiscoveryScope = o.Block, o.Scope
	}
	for _, s := range ownFields(job) {
		d.Derived = append(d.Derived, s.Name)
	}
	return d
}

// apply makes the change true in the sink, unless it is a refusal, a dry
// run, or nothing.
func (r *Runner) apply(ctx context.Context, job account.Job, ch plan.Change) error {
	switch {
	case ch.Action == plan.Refused:
		return ErrRefused
	case r.DryRun || !ch.HasChanges():
		return nil
	}
	err := r.sink().Write(ctx, job.Path, ch.Write)
	r.written(job, ch, err)
	return err
}

// init makes the concurrency bounds, once.
func (r *Runner) init() {
	r.once.Do(func() {
		if r.Pending == nil {
			r.Pending = NewPending()
		}
		if r.Problems == nil {
			r.Problems = NewProblems()
		}
		if r.Expiries == nil {
			r.Expiries = NewExpiries()
		}
		r.memo = derive.NewMemo()
		r.subSems = &subscriptionSems{perSubscription: r.SubscriptionConcurrency}
		r.sourceSems = newSemaphore(r.concurrency())
		r.vaultSems = newSemaphore(cmp.Or(r.VaultConcurrency, r.concurrency()))
	})
}

// source is Source within its bounds.
func (r *Runner) source() bounded {
	return bounded{Source: r.Source, subscriptionSems: r.subSems, all: r.sourceSems}
}

// sink is Sink within its bound.
func (r *Runner) sink() boundedSink { return boundedSink{Sink: r.Sink, sem: r.vaultSems} }

func (r *Runner) jobLogger(job account.Job) *slog.Logger {
	return r.logger().With("account", job.Account.Name, "subscription", job.Account.SubscriptionID, "path", job.Path)
}

func (r *Runner) report(res Result) {
	log := r.jobLogger(res.Job)
	attrs := []any{"attempts", res.Attempts, "duration", res.Duration.Round(time.Millisecond)}
	if res.Err == nil {
		attrs = append(attrs, "action", res.Change.Action.String())
	}
	switch {
	case errors.Is(res.Err, ErrRefused):
		log.Error("refused", append(attrs, "reason", res.Change.Reason)...)
	case res.Err != nil:
		log.Error("sync failed", append(attrs, "err", res.Err, "transient", fault.Transient(res.Err))...)
	case r.DryRun:
		log.Info("planned (dry run)", append(attrs, "fields", res.Change.Describe())...)
	case res.Change.HasChanges():
		log.Info("synced", append(attrs, "fields", res.Change.Describe())...)
	case res.Change.Reason != "":
		log.Debug("unchanged", append(attrs, "reason", res.Change.Reason)...) // a removal that waits, and until when
	default:
		log.Debug("unchanged", attrs...)
	}
}

func (r *Runner) logger() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}

func (r *Runner) now() time.Time {
	if r.Now == nil {
		return time.Now()
	}
	return r.Now()
}

func (r *Runner) sleep(ctx context.Context, d time.Duration) error {
	if r.Sleep != nil {
		return r.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// vaultFields are the names of the key fields keysync writes for job: its
// fields table's, else its type's; nil when the answer decides them.
func vaultFields(job account.Job) []string {
	if len(job.Fields) > 0 {
		return slices.Sorted(maps.Values(job.Fields))
	}
	return job.Account.Spec().KnownFields()
}

// selectFields applies a job's fields table: only the named fields, under
// their Vault names. A named field the answer lacks is an error, never a
// half-written secret.
func selectFields(keys secret.Fields, rename map[string]string) (secret.Fields, error) {
	if len(rename) == 0 {
		return keys, nil
	}
	out := make(secret.Fields, len(rename))
	for from, to := range rename {
		v, ok := keys[from]
		if !ok {
			return nil, fmt.Errorf("fields names %q, which the answer does not have (it has %s)", from, strings.Join(keys.Names(), ", "))
		}
		out[to] = v
	}
	return out, nil
}

// Package runner acts on plans: for each job it fetches keys from a source,
// reads the sink, asks package plan what to do and, unless it is a dry run,
// applies the change. Jobs run with bounded concurrency, a failing job never
// stops the others, and transient errors are retried within the run.
package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/keysync/keysync/fault"
	"github.com/keysync/keysync/secret"
	"github.com/keysync/keysync/sinks"
	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/plan"
)

// Source fetches the keys of one account.
type Source interface {
	Fetch(ctx context.Context, a sources.Account) (secret.Fields, error)
}

// Sink holds secrets: Read returns the state a plan starts from, Apply makes
// a planned change true.
type Sink interface {
	Read(ctx context.Context, path string) (plan.Current, error)
	Apply(ctx context.Context, path string, cur plan.Current, ch plan.Change) error
}

// Job is one account to keep in sync with one path.
type Job struct {
	Account    sources.Account
	Path       string
	Adopt      bool
	APIVersion string
	// Fields, when set, selects and renames the source's fields: response
	// name -> Vault name.
	Fields map[string]string
	// Rotate, when set, regenerates the inactive key every period.
	Rotate *plan.Rotation
}

// Result is what happened to one job.
type Result struct {
	Job    Job
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
	Source Source
	Sink   Sink
	Logger *slog.Logger
	// Concurrency bounds the jobs in flight; below 1 means 1.
	Concurrency int
	// SubscriptionConcurrency bounds the fetches in flight per subscription,
	// VaultConcurrency the requests in flight to Vault; 0 means no bound
	// beyond Concurrency.
	SubscriptionConcurrency int
	VaultConcurrency        int
	// Pending holds rotations whose Vault write is outstanding; shared
	// across runners by the daemon. Nil gets a fresh one.
	Pending *Pending
	limits  limits
	// DryRun plans and reports without applying.
	DryRun bool
	Retry  RetryPolicy
	// Now and Sleep are the clock; nil means the real one.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// maxConflicts bounds re-plans after check-and-set conflicts in one attempt.
const maxConflicts = 3

// Run syncs every job and returns one result each, in job order. A fixed
// pool of Concurrency workers does the work, so ten thousand jobs cost ten
// thousand results, not ten thousand goroutines.
func (r *Runner) Run(ctx context.Context, jobs []Job) []Result {
	results := make([]Result, len(jobs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(max(r.Concurrency, 1), len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := ctx.Err(); err != nil {
					results[i] = Result{Job: jobs[i], Err: err}
					continue
				}
				results[i] = r.Sync(ctx, jobs[i])
				r.report(results[i])
			}
		}()
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()
	return results
}

// Sync runs one job to the end, retrying transient failures as Retry
// allows. It logs retries but not the outcome: Run reports each result, and
// the daemon's scheduler decides what is worth a log line.
func (r *Runner) Sync(ctx context.Context, job Job) Result {
	start := r.now()
	log := r.JobLogger(job)
	res := Result{Job: job}
	for {
		res.Attempts++
		res.Change, res.Err = r.attempt(ctx, job)
		wait, retry := r.Retry.next(res.Attempts, res.Err)
		if !retry {
			break
		}
		log.Warn("transient failure, retrying", "err", res.Err, "attempt", res.Attempts, "wait", wait.Round(time.Millisecond))
		if err := r.sleep(ctx, wait); err != nil {
			break
		}
	}
	res.Duration = r.now().Sub(start)
	// The result outlives the sync (reports, metrics): keep the field names
	// and fingerprints, drop the keys and the metadata.
	res.Change.Set, res.Change.Metadata = nil, nil
	return res
}

// JobLogger is the logger with the job's fixed keys.
func (r *Runner) JobLogger(job Job) *slog.Logger {
	return r.logger().With("account", job.Account.Name, "subscription", job.Account.SubscriptionID, "path", job.Path)
}

// attempt is one try: fetch, then read-plan-apply until no conflict.
func (r *Runner) attempt(ctx context.Context, job Job) (plan.Change, error) {
	if job.Rotate != nil {
		return r.rotatingAttempt(ctx, job)
	}
	keys, err := r.fetch(ctx, job.Account)
	if err != nil {
		return plan.Change{}, err
	}
	if keys, err = selectFields(keys, job.Fields); err != nil {
		return plan.Change{}, err
	}
	desired := plan.Desired{Fields: keys, ResourceID: job.Account.ResourceID(), APIVersion: job.APIVersion, Adopt: job.Adopt}
	for conflicts := 0; ; conflicts++ {
		cur, err := r.read(ctx, job.Path)
		if err != nil {
			return plan.Change{}, err
		}
		ch, err := r.planApply(ctx, job, cur, desired)
		if !errors.Is(err, sinks.ErrConflict) || conflicts+1 >= maxConflicts {
			return ch, err
		}
	}
}

// planApply plans the change from cur to desired and, unless this is a dry
// run or there is nothing to do, applies it.
func (r *Runner) planApply(ctx context.Context, job Job, cur plan.Current, desired plan.Desired) (plan.Change, error) {
	ch := plan.Calculate(cur, desired, r.now())
	switch {
	case ch.Action == plan.Refused:
		return ch, ErrRefused
	case r.DryRun || !ch.HasChanges():
		return ch, nil
	}
	return ch, r.apply(ctx, job.Path, cur, ch)
}

func (r *Runner) report(res Result) {
	log := r.JobLogger(res.Job)
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

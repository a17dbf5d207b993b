package runner

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/keysync/keysync/fault"
	"github.com/keysync/keysync/secret"
	"github.com/keysync/keysync/sinks"
	"github.com/keysync/keysync/sync/account"
	"github.com/keysync/keysync/sync/plan"
)

// rotate regenerates the key ch names, so that Vault is never left behind
// Azure for good. It first records the regeneration in the secret's
// metadata (plan.MetaRotationPending): from then on a crash, a failed
// write or a one-shot run that exits is completed by the next sync, which
// finds the record and the changed key, without regenerating again. Then
// it regenerates, and plans again with the new keys and the record. It
// returns the keys and the change to write.
func (r *Runner) rotate(ctx context.Context, job account.Job, cur sinks.State, keys secret.Fields, ch plan.Change) (secret.Fields, plan.Change, error) {
	key := ch.Rotation.Regenerate
	if err := r.sink().Write(ctx, job.Path, sinks.Write{Metadata: ch.Rotation.Record, BaseVersion: cur.Version}); err != nil {
		return keys, ch, fmt.Errorf("recording the rotation of the %s key before regenerating it: %w", key, err)
	}
	held := cur.Metadata
	cur.Metadata = ch.Rotation.Record
	fresh, err := r.regenerate(ctx, job, key)
	if err != nil {
		r.unrecord(ctx, job, held, cur.Version, err)
		return keys, ch, err
	}
	next, err := r.plan(ctx, job, cur, fresh)
	if err != nil {
		return keys, ch, err
	}
	if next.Rotation.Completed != key {
		return keys, ch, &notVisibleError{key: key}
	}
	r.Pending.set(job.Path, next.Rotation)
	next.Rotation.Regenerate = key
	return fresh, next, nil
}

// DefaultRegenerateTimeout is Runner.RegenerateTimeout when unset: the
// Azure source's own bound on a long-running regenerate at its default
// request timeout, with room for the request and the keys read after.
const DefaultRegenerateTimeout = 11 * time.Minute

func (r *Runner) regenerateTimeout() time.Duration {
	return cmp.Or(r.RegenerateTimeout, DefaultRegenerateTimeout)
}

// rotation is the job's rotation policy with the runner's bound on a
// regenerate in it: a record of a regenerate holds the account back for
// twice that bound, since an operation Azure accepted late in the call
// may run on after keysync stops watching it.
func (r *Runner) rotation(job account.Job) *plan.Rotation {
	if job.Rotate == nil {
		return nil
	}
	p := *job.Rotate
	p.InFlight = 2 * r.regenerateTimeout()
	return &p
}

// regenerate makes the key anew and returns the keys after, within the
// runner's bound: no regenerate of keysync's outlives the time its
// record holds the account back.
func (r *Runner) regenerate(ctx context.Context, job account.Job, key string) (secret.Fields, error) {
	ctx, cancel := context.WithTimeout(ctx, r.regenerateTimeout())
	defer cancel()
	keys, err := r.source().Regenerate(ctx, job.Account, key)
	if err != nil {
		return nil, fmt.Errorf("regenerating %s key: %w", key, err)
	}
	r.jobLogger(job).Info("regenerated key", "key", key)
	return selectFields(keys, job.Fields)
}

// unrecord takes the record back after a regenerate that Azure refused:
// nothing changed, so nothing is held back. A transient failure (a
// timeout, a 5xx, an operation still running) may have regenerated the
// key all the same: its record stays, and the next sync completes it or,
// after the grace, regenerates again.
func (r *Runner) unrecord(ctx context.Context, job account.Job, held map[string]string, version int, cause error) {
	if fault.Transient(cause) {
		return
	}
	if err := r.sink().Write(ctx, job.Path, sinks.Write{Metadata: held, BaseVersion: version}); err != nil {
		r.jobLogger(job).Warn("could not remove the rotation record after a refused regenerate; it holds the key back for rotate_grace", "err", err)
	}
}

// written notes the outcome of a write: a rotation whose key Azure holds
// and Vault does not is the one case where a stale Vault is dangerous, so
// its failed write is said loudly and kept pending (reported in /readyz)
// until a write lands.
func (r *Runner) written(job account.Job, ch plan.Change, err error) {
	_, pending := r.Pending.get(job.Path)
	switch {
	case err == nil:
		r.Pending.clear(job.Path)
		if ch.Rotation.Completed != "" && ch.Rotation.Regenerate == "" {
			r.jobLogger(job).Info("completed a recorded rotation without regenerating again", "key", ch.Rotation.Completed)
		}
	case pending || ch.Rotation.Completed != "":
		r.Pending.set(job.Path, ch.Rotation)
		r.jobLogger(job).Error("ROTATED KEY NOT IN VAULT: Azure has a new key that Vault does not hold yet; retrying the write until it does",
			"key", ch.Rotation.Completed, "err", err)
	}
}

// notVisibleError: the regenerate succeeded but its answer (or, for a
// long-running one, listKeys after it) still holds the old key. The record
// stays; a later sync completes the rotation once the key shows.
type notVisibleError struct{ key string }

func (e *notVisibleError) Error() string {
	return fmt.Sprintf("regenerated the %s key, but the keys answered after still hold the old one; the next sync completes the rotation", e.key)
}

// Fault implements fault.Error.
func (e *notVisibleError) Fault() fault.Class {
	return fault.Class{Transient: true, Code: "RegenerateNotVisible"}
}

// noteProblems records what this sync found in the job's rotation
// metadata and says so when it changed: once when problems appear, once
// when they are gone, never at every sync.
func (r *Runner) noteProblems(job account.Job, found []string) {
	if !r.Problems.note(job.Path, found, r.now()) {
		return
	}
	if len(found) == 0 {
		r.jobLogger(job).Info("rotation metadata is valid again")
		return
	}
	r.jobLogger(job).Warn("rotation metadata not trusted: ignored, and repaired by this sync's write; someone other than keysync may be writing it",
		"problems", strings.Join(found, "; "))
}

// Held reports whether the result's sync was held back by a recorded
// regenerate that may still land (a long-running operation keysync
// stopped polling, a timeout): the sync itself succeeded, Vault holds the
// keys Azure has, but the rotation is not done, and no key is regenerated
// until the key changes (the next sync completes the rotation) or the
// record is too old to be in flight. A one-shot run counts it apart and
// exits 1; the daemon shows it as the outcome "pending" without backing
// off or turning unready, so that a principal writing fresh records
// cannot take keysync out of service.
func Held(r Result) bool { return r.Err == nil && r.Change.Rotation.Held != "" }

// noteHeld logs, once per record, that the job's rotation waits for a
// recorded regenerate: a record that keeps being renewed is seen.
func (r *Runner) noteHeld(job account.Job, rp plan.RotationPlan) {
	if rp.Held == "" {
		r.held.Delete(job.Path)
		return
	}
	rec := rp.Held + " " + rp.HeldSince.UTC().Format(time.RFC3339)
	// A copy of the path: the record outlives the job, whose path may be
	// a piece of a larger string its holder made.
	if prev, loaded := r.held.Swap(strings.Clone(job.Path), rec); loaded && prev == rec {
		return
	}
	r.jobLogger(job).Warn("rotation pending: a recorded regenerate may still land; nothing is regenerated until it does or the record is too old to be in flight",
		"key", rp.Held, "recorded_at", rp.HeldSince.UTC().Format(time.RFC3339))
}

package runner

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/keysync/keysync/secret"
	"github.com/keysync/keysync/sinks"
	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/plan"
)

// Rotator regenerates one key of an account and returns the keys after.
type Rotator interface {
	Regenerate(ctx context.Context, a sources.Account, key string) (secret.Fields, error)
}

// Pending remembers rotations whose regenerate succeeded but whose Vault
// write has not yet: the one case where a stale Vault is dangerous, since
// Azure no longer accepts the key it replaced. Until the write lands, the
// account is retried without regenerating again. The daemon keeps one
// across reloads and reports it in /readyz.
type Pending struct {
	mu sync.Mutex
	m  map[string]plan.RotationPlan
}

// NewPending returns an empty Pending.
func NewPending() *Pending { return &Pending{m: map[string]plan.RotationPlan{}} }

// Paths lists the Vault paths that wait for a rotated key.
func (p *Pending) Paths() []string {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Sorted(maps.Keys(p.m))
}

func (p *Pending) get(path string) (plan.RotationPlan, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rp, ok := p.m[path]
	return rp, ok
}

func (p *Pending) set(path string, rp plan.RotationPlan) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.m[path] = rp
}

func (p *Pending) clear(path string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.m, path)
}

// errNoRotator: the source cannot regenerate keys.
var errNoRotator = errors.New("rotation is configured but the source cannot regenerate keys")

// rotatingAttempt is attempt for an account with a rotation policy: read
// Vault first (it holds the active key and when it rotated), regenerate if
// due, then write the keys, the active key's name and the rotation times.
func (r *Runner) rotatingAttempt(ctx context.Context, job Job) (plan.Change, error) {
	rot, ok := r.Source.(Rotator)
	if !ok {
		return plan.Change{}, errNoRotator
	}
	for conflicts := 0; ; conflicts++ {
		cur, err := r.read(ctx, job.Path)
		if err != nil {
			return plan.Change{}, err
		}
		rp, pending := r.pending().get(job.Path)
		if !pending {
			rp = plan.PlanRotation(cur, *job.Rotate, r.now())
		}
		keys, err := r.rotationKeys(ctx, rot, job, rp, pending)
		if err != nil {
			return plan.Change{}, err
		}
		desired := plan.Desired{Fields: keys, ResourceID: job.Account.ResourceID(), APIVersion: job.APIVersion, Adopt: job.Adopt,
			Plain: map[string]string{plan.FieldActive: rp.Active}, Meta: rp.Meta, Rotation: rp.Regenerate}
		ch, err := r.planApply(ctx, job, cur, desired)
		switch {
		case err == nil && !r.DryRun:
			r.pending().clear(job.Path)
			return ch, nil
		case err == nil || errors.Is(err, ErrRefused):
			return ch, err
		}
		if rp.Regenerate != "" || pending {
			r.logger().Error("ROTATED KEY NOT IN VAULT: Azure has a new key that Vault does not hold yet; retrying the write until it does",
				"account", job.Account.Name, "path", job.Path, "key", rp.Regenerate, "err", err)
		}
		if !errors.Is(err, sinks.ErrConflict) || conflicts+1 >= maxConflicts {
			return ch, err
		}
	}
}

// rotationKeys regenerates when the plan says so (never in a dry run, never
// again for a pending rotation), else reads the keys.
func (r *Runner) rotationKeys(ctx context.Context, rot Rotator, job Job, rp plan.RotationPlan, pending bool) (secret.Fields, error) {
	if rp.Regenerate == "" || pending || r.DryRun {
		return r.fetch(ctx, job.Account)
	}
	release, err := acquire(ctx, r.subscriptionSem(job.Account.SubscriptionID))
	if err != nil {
		return nil, err
	}
	defer release()
	keys, err := rot.Regenerate(ctx, job.Account, rp.Regenerate)
	if err != nil {
		return nil, fmt.Errorf("regenerating %s key: %w", rp.Regenerate, err)
	}
	// From here on Azure holds a key Vault does not: remember the plan, so
	// a failed write is retried without regenerating again.
	kept := rp
	kept.Regenerate = ""
	r.pending().set(job.Path, kept)
	r.logger().Info("regenerated key", "account", job.Account.Name, "path", job.Path, "key", rp.Regenerate)
	return keys, nil
}

func (r *Runner) pending() *Pending {
	r.limits.mu.Lock()
	defer r.limits.mu.Unlock()
	if r.Pending == nil {
		r.Pending = NewPending()
	}
	return r.Pending
}

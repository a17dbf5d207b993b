package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/keysync/keysync/secret"
	"github.com/keysync/keysync/sinks"
	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/account"
	"github.com/keysync/keysync/sync/derive"
	"github.com/keysync/keysync/sync/derive/spec"
	"github.com/keysync/keysync/sync/plan"
)

// PropertyReader reads what a connection string names of a resource from
// its own properties: a Storage account's endpoints, a Redis cache's host
// and TLS port.
type PropertyReader interface {
	Properties(ctx context.Context, a sources.Account) (map[string]string, error)
}

// ConnectionStringLister reads the connection strings a resource's
// listConnectionStrings answers (Cosmos DB), by keyKind/type.
type ConnectionStringLister interface {
	ConnectionStrings(ctx context.Context, a sources.Account) (secret.Fields, error)
}

// Metadata a derived value records, by its field name: when it expires,
// and the key it was made with.
const (
	MetaDerivedPrefix    = "derived-"
	metaDerivedExpires   = "-expires"
	metaDerivedSignedKey = "-key"
)

// plan is the change for the job's own path: plan.Calculate, and with the
// job's derived values that live at that path made from the key active
// after this change, so that a change that moves the active key re-signs
// them in the same write.
func (r *Runner) plan(ctx context.Context, job account.Job, cur sinks.State, keys secret.Fields) (plan.Change, error) {
	d := r.desired(job, keys)
	same := ownFields(job)
	var ch plan.Change
	active := activeKey(job, nil)
	if len(same) == 0 || job.Rotate != nil {
		// Only the plan says which key is active after a rotation.
		ch = plan.Calculate(cur, d, r.now())
		if len(same) == 0 || ch.Action == plan.Refused {
			return ch, nil
		}
		active = activeKey(job, ch.Rotation.Active)
	}
	made, meta, err := r.derive(ctx, job, same, keys, active, cur.Data)
	if err != nil {
		return ch, err
	}
	d.Fields = maps.Clone(keys)
	maps.Copy(d.Fields, made)
	d.Meta = meta
	return plan.Calculate(cur, d, r.now()), nil
}

// derive makes specs' values with the active key, keeping each held one
// that is still valid, and the metadata they record.
func (r *Runner) derive(ctx context.Context, job account.Job, specs []spec.Spec, keys secret.Fields, active string, held secret.Data) (secret.Fields, map[string]string, error) {
	in := derive.Input{AccountID: job.Account.ResourceID(), Name: job.Account.Name, Rule: job.Account.Rule,
		ResourceGroup: job.Account.ResourceGroup, Subscription: job.Account.SubscriptionID, Type: strings.ToLower(cmp.Or(job.Account.Type, sources.DefaultType)),
		Keys: keys, Active: active, Suffix: r.StorageSuffix}
	var err error
	if account.NeedsProperties(job.Account, specs) {
		if in.Props, err = r.properties(ctx, job, keys); err != nil {
			return nil, nil, err
		}
	}
	if slices.ContainsFunc(specs, spec.Spec.NeedsConnectionStrings) {
		if in.Answered, err = r.connectionStrings(ctx, job.Account); err != nil {
			return nil, nil, err
		}
	}
	if len(specs) > 0 {
		in = in.Prepared() // the account's part of every digest, once
	}
	fields := make(secret.Fields, len(specs))
	meta := map[string]string{}
	for _, s := range specs {
		var hp *secret.Value
		if v, ok := held.Field(s.Name); ok {
			hp = &v
		}
		res, err := r.memo.Derive(s, in, hp, r.now())
		if err != nil {
			return nil, nil, err
		}
		fields[s.Name] = res.Value
		meta[MetaDerivedPrefix+s.Name+metaDerivedSignedKey] = active
		if !res.Expires.IsZero() {
			meta[MetaDerivedPrefix+s.Name+metaDerivedExpires] = res.Expires.UTC().Format(time.RFC3339)
		}
	}
	return fields, meta, nil
}

// connectionStrings are the account's listConnectionStrings answer, read
// at every sync that needs it: it holds the keys, which rotate.
func (r *Runner) connectionStrings(ctx context.Context, a sources.Account) (secret.Fields, error) {
	cl, ok := r.Source.(ConnectionStringLister)
	if !ok {
		return nil, errors.New("the source lists no connection strings, which this connection string needs")
	}
	cs, err := boundedCall(ctx, r, a, cl.ConnectionStrings)
	if err != nil {
		return nil, fmt.Errorf("listing the account's connection strings: %w", err)
	}
	return cs, nil
}

// boundedCall is one source call within the runner's bounds.
func boundedCall[T any](ctx context.Context, r *Runner, a sources.Account, call func(context.Context, sources.Account) (T, error)) (T, error) {
	release, err := r.source().acquire(ctx, a.SubscriptionID)
	if err != nil {
		var zero T
		return zero, err
	}
	defer release()
	return call(ctx, a)
}

// syncOwnPaths writes the job's derived values that have paths of their
// own, each path planned like any secret (ownership, check-and-set,
// provenance), with active the key they are made with. A dry run plans
// and logs them.
func (r *Runner) syncOwnPaths(ctx context.Context, job account.Job, keys secret.Fields, active string) error {
	paths, err := job.DerivedPaths()
	if err != nil {
		return err
	}
	for _, path := range paths {
		specs, err := job.DerivedAt(path)
		if err != nil {
			return err
		}
		if err := r.syncOwnPath(ctx, job, path, specs, keys, active); err != nil {
			return fmt.Errorf("derived values at %s: %w", path, err)
		}
	}
	return nil
}

func (r *Runner) syncOwnPath(ctx context.Context, job account.Job, path string, specs []spec.Spec, keys secret.Fields, active string) error {
	for conflicts := 1; ; conflicts++ {
		cur, err := r.sink().Read(ctx, path)
		if err != nil {
			return err
		}
		made, meta, err := r.derive(ctx, job, specs, keys, active, cur.Data)
		if err != nil {
			return err
		}
		ch := plan.Calculate(cur, plan.Desired{Fields: made, Meta: meta, ResourceID: job.Account.ResourceID(),
			APIVersion: cmp.Or(job.Account.APIVersion, job.Account.Spec().APIVersion), Adopt: job.Adopt, RefuseLegacy: r.RefuseLegacy}, r.now())
		switch {
		case ch.Action == plan.Refused:
			return fmt.Errorf("%w: %s", ErrRefused, ch.Reason)
		case !ch.HasChanges():
			r.noteWritten(job, path, specs, cur.Metadata, nil)
			return nil
		case r.DryRun:
			r.jobLogger(job).Info("planned (dry run)", "derived_path", path, "action", ch.Action.String(), "fields", ch.Redact().Describe())
			return nil
		}
		err = r.sink().Write(ctx, path, ch.Write)
		if err == nil {
			r.noteWritten(job, path, specs, cur.Metadata, ch.Write.Metadata)
		}
		if err == nil || !errors.Is(err, sinks.ErrConflict) || conflicts >= maxConflicts {
			return err
		}
	}
}

// activeKey is the key derived values are made with: the active field's
// key of the type's first pair after this change for a rotating account,
// else that pair's first key.
func activeKey(job account.Job, active map[string]string) string {
	if k := active[plan.FieldActive]; k != "" && job.Rotate != nil {
		return k
	}
	if pairs := job.Account.Spec().Rotation.Pairs; len(pairs) > 0 {
		return pairs[0].Keys[0]
	}
	return ""
}

// heldActive is the key the held secret names active (before this
// sync's rotation): the key derived values must be signed with before
// the other one is regenerated.
func heldActive(job account.Job, held secret.Data) string {
	if v, ok := held.Field(plan.FieldActive); ok && job.Rotate != nil {
		return v.Reveal()
	}
	return activeKey(job, nil)
}

// ownFields are the job's derived values written to its own path, as
// fields beside the keys.
func ownFields(job account.Job) []spec.Spec {
	var out []spec.Spec
	for _, s := range job.Derived {
		if s.Path == "" {
			out = append(out, s)
		}
	}
	return out
}

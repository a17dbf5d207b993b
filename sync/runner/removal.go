package runner

import (
	"context"
	"errors"
	"fmt"

	"github.com/keysync/keysync/sync/account"
	"github.com/keysync/keysync/sync/plan"
)

// errOwnRefused marks the refused removal of a derived value's own path:
// the keys' removal goes on, and the result reports it.
var errOwnRefused = errors.New("not removed")

// removeOwnPaths removes the job's derived values at paths of their own
// as its block's on_removed says, each path as the keys' own (plan.Removal:
// only a secret whose data mark names the account). A refusal is
// errOwnRefused, with its reason.
func (r *Runner) removeOwnPaths(ctx context.Context, job account.Job) error {
	paths, err := job.DerivedPaths()
	if err != nil {
		return err
	}
	var refused []error
	for _, path := range paths {
		specs, err := job.DerivedAt(path)
		if err != nil {
			return err
		}
		fields := make([]string, len(specs))
		for i, s := range specs {
			fields[i] = s.Name
		}
		ch, err := r.removeAt(ctx, job, path, fields)
		switch {
		case err != nil:
			return fmt.Errorf("derived values at %s: %w", path, err)
		case ch.Action == plan.Refused:
			refused = append(refused, fmt.Errorf("derived values at %s: %w: %s", path, errOwnRefused, ch.Reason))
			continue
		case r.DryRun:
			r.jobLogger(job).Info("planned (dry run)", "derived_path", path, "action", ch.Action.String(), "fields", ch.Redact().Describe())
			continue
		case !ch.HasChanges():
			continue
		}
		if err := r.sink().Write(ctx, path, ch.Write); err != nil {
			return fmt.Errorf("derived values at %s: %w", path, err)
		}
	}
	return errors.Join(refused...)
}

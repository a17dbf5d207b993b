package discovery

import (
	"context"
	"fmt"
	"slices"

	"github.com/keysync/keysync/sync/plan"
	"github.com/keysync/keysync/sync/runner"
)

// RecallClaims finds, for a process that remembers no earlier run, which
// claimant of each path conflict in out was there before, where Recall
// does not (blocks that keep what they no longer find): it reads the
// secret at the path, and a claimant it was written for (keysync's mark,
// the block, its scope and the claimant's resource id, as Recall accepts
// them) is in the State returned, so that the next decision keeps it
// syncing there and leaves out only the newcomers. One read per such
// conflict; owns leaves out another shard's (nil owns all).
func RecallClaims(ctx context.Context, st Store, blocks []Block, out Outcome, owns func(resourceID string) bool) (*State, error) {
	s := &State{jobs: map[entryID]found{}}
	for _, c := range out.Decision.Conflicts {
		if c.What != "path" || c.Kept != "" {
			continue
		}
		for _, b := range blocks {
			if !slices.Contains(c.Origins, b.Name) || b.OnRemoved == plan.RemoveMark || b.OnRemoved == plan.RemoveDelete {
				continue // not a claimant, or Recall reads its secrets
			}
			j, _, err := gone(ctx, st, b, &runner.Origin{Block: b.Name, Scope: b.Scope()}, c.Value)
			if err != nil {
				return nil, fmt.Errorf("reading who held %s before: %w", c.Value, err)
			}
			if j == nil || !slices.Contains(c.Keys, j.Account.Key()) || owns != nil && !owns(j.Account.ResourceID()) {
				continue
			}
			j.Account.Rule, j.Account.APIVersion = b.Job.Account.Rule, b.Job.Account.APIVersion
			var pk runner.Packer
			packed := pk.Pack(*j)
			pol := policyOf(b)
			pol.recalled = true
			s.jobs[packedID(&packed)] = found{job: &packed, policy: pol}
			break
		}
	}
	return s, nil
}

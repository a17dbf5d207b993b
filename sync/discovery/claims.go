package discovery

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/keysync/keysync/sinks"
	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/account"
	"github.com/keysync/keysync/sync/inventory"
	"github.com/keysync/keysync/sync/plan"
)

// RecallClaims finds, for a process that remembers no earlier run, which
// claimant of each path conflict in out was there before: it reads the
// secret at the path, and the claimant keysync's data mark there names
// (plan.FieldOwner: a writer of the metadata alone cannot forge it, a
// block's edit does not change it, and KV v1 keeps it too) is in the
// State returned, so that the next decision keeps it syncing there and
// leaves out only the newcomers. A secret written before data marks is
// read by its metadata's marks, as Recall reads them. One read per such
// conflict; owns leaves out another shard's (nil owns all).
func RecallClaims(ctx context.Context, st Store, blocks []Block, out Outcome, owns func(resourceID string) bool) (*State, error) {
	s := &State{jobs: map[account.ID]found{}}
	for _, c := range out.Decision.Conflicts {
		if c.What != "path" || c.Kept != "" {
			continue
		}
		cur, err := st.Read(ctx, c.Value)
		if err != nil {
			return nil, fmt.Errorf("reading who held %s before: %w", c.Value, err)
		}
		for _, b := range blocks {
			if !slices.Contains(c.Origins, b.Name) {
				continue
			}
			j, err := heldBefore(ctx, st, b, c, cur)
			if err != nil {
				return nil, fmt.Errorf("reading who held %s before: %w", c.Value, err)
			}
			if j == nil || owns != nil && !owns(j.Account.ResourceID()) {
				continue
			}
			pol := policyOf(b)
			pol.recalled = true
			s.jobs[j.Key().ID()] = found{job: j, policy: pol}
			break
		}
	}
	return s, nil
}

// heldBefore is the job of the claimant of c, found by b, that the secret
// cur at c's path was written for; nil for none.
func heldBefore(ctx context.Context, st Store, b Block, c inventory.Conflict, cur sinks.State) (*account.Job, error) {
	mark, ok := cur.Data.Field(plan.FieldOwner)
	switch {
	case ok:
		return b.claimant(mark.Reveal(), c), nil
	case cur.Data.Has(plan.FieldOwner):
		return nil, nil // not a mark keysync writes
	}
	j, _, err := gone(ctx, st, b, &account.Origin{Block: b.Name, Scope: b.Scope()}, c.Value)
	if err != nil || j == nil || !slices.Contains(c.Keys, j.Account.Key()) {
		return nil, err
	}
	j.Account.Rule, j.Account.APIVersion = b.Job.Account.Rule, b.Job.Account.APIVersion
	return j, nil
}

// claimant is the job of the claimant of c whose resource id the data mark
// names, when b could have written its secret at c's path. The mark is
// lower case, so the path compares without case: the claimant, one of
// c's, is what makes the path exactly.
func (b Block) claimant(mark string, c inventory.Conflict) *account.Job {
	a, why := b.claimAccount(mark)
	if why != "" || !slices.Contains(c.Keys, a.Key()) {
		return nil
	}
	if want, err := sources.ExpandPath(b.Path, a); err != nil || !strings.EqualFold(want, c.Value) {
		return nil
	}
	j := b.Job
	j.Account, j.Path, j.Origin = a, c.Value, &account.Origin{Block: b.Name, Scope: b.Scope()}
	return &j
}

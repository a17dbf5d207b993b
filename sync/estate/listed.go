package estate

import (
	"slices"

	"github.com/keysync/keysync/sync/account"
	"github.com/keysync/keysync/sync/runner"
	"github.com/keysync/keysync/sync/scheduler"
)

// isDiscovered says whether a job is a discovered account's.
func isDiscovered(shared *runner.Job) bool { return shared.Origin != nil }

// isListed says whether a job is a listed ([[account]]) account's.
func isListed(shared *runner.Job) bool { return shared.Origin == nil }

// kept is what the scheduler holds of the accounts keep accepts, unpacked:
// the estate hands them back on a reload or a discovery instead of
// keeping a copy of its own.
func kept(sched Scheduler, keep func(*runner.Job) bool) []scheduler.Account {
	ks := sched.Kept(keep)
	out := make([]scheduler.Account, len(ks))
	for i, k := range ks {
		out[i] = k.Account()
	}
	return out
}

// notListed is found without the accounts listed holds too (the same
// resource at the same path), in place: an account a reload lists is the
// listed one, as discovery decides. Handed both, the scheduler would keep
// the found one, and the next discovery, which reads the listed accounts
// back from it, would keep it found.
func notListed(found, listed []scheduler.Account) []scheduler.Account {
	if len(found) == 0 || len(listed) == 0 {
		return found
	}
	ids := make(map[account.ID]struct{}, len(listed))
	for _, a := range listed {
		ids[a.Key().ID()] = struct{}{}
	}
	return slices.DeleteFunc(found, func(a scheduler.Account) bool {
		_, ok := ids[a.Key().ID()]
		return ok
	})
}

// Jobs lists the accounts' jobs, for a one-shot run.
func Jobs(accts []scheduler.Account) []runner.Job {
	out := make([]runner.Job, len(accts))
	for i, a := range accts {
		out[i] = a.Job
	}
	return out
}

package estate

import (
	"slices"

	"github.com/keysync/keysync/sync/account"
	"github.com/keysync/keysync/sync/scheduler"
)

// isDiscovered says whether an origin is a discovered account's.
func isDiscovered(origin *account.Origin) bool { return origin != nil }

// isListed says whether an origin is a listed ([[account]]) account's.
func isListed(origin *account.Origin) bool { return origin == nil }

// kept is what the scheduler holds of the accounts keep accepts: the
// estate hands them back on a reload or a discovery instead of keeping a
// copy of its own.
func kept(sched Scheduler, keep func(*account.Origin) bool) []scheduler.Account {
	return slices.Collect(sched.Kept(keep))
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
func Jobs(accts []scheduler.Account) []account.Job {
	out := make([]account.Job, len(accts))
	for i, a := range accts {
		out[i] = a.Job
	}
	return out
}

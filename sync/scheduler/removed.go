package scheduler

import "context"

// AwaitRemoved returns once no sync is running of an account a reload
// removed while it ran (at once when there is none), or when ctx ends
// (its error) or the loop has stopped (which waited for every sync).
// Such a sync writes the account's secret after the reload, from what it
// reads then: whoever acts on the secrets of the accounts a reload
// removed (marks or deletes them) waits for it first, else the sync,
// finding a mark, writes the account back as found again.
func (s *Scheduler) AwaitRemoved(ctx context.Context) error {
	w := make(chan struct{})
	select {
	case s.awaits <- w:
	case <-s.stopped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-w:
		return nil
	case <-s.stopped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// await answers an AwaitRemoved: at once when no removed account's sync
// is running, else when the last of them ends; the loop calls it.
func (s *Scheduler) await(w chan struct{}) {
	if s.orphans == 0 {
		close(w)
		return
	}
	s.awaiting = append(s.awaiting, w)
}

// orphaned counts the sync of st, which a reload removes while it runs;
// the loop calls it.
func (s *Scheduler) orphaned(st *state) {
	if st.running {
		s.orphans++
	}
}

// orphanDone settles the sync of an account removed while it ran, and
// answers the AwaitRemoved calls once none is left; the loop calls it.
func (s *Scheduler) orphanDone() {
	s.orphans--
	if s.orphans > 0 {
		return
	}
	for _, w := range s.awaiting {
		close(w)
	}
	s.awaiting = nil
}

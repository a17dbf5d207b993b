package discovery

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/keysync/keysync/sinks"
	"github.com/keysync/keysync/sync/account"
	"github.com/keysync/keysync/sync/plan"
)

// RecallMarked is Recall, and for each recalled secret that carries the
// mark of an earlier removal (plan.FieldGoneAt in its data, else
// plan.MetaSourceGone), when it was made: such
// an account was removed then, so its secret is deleted once the mark is
// delete_after old (by a block that deletes), and the removal guard counts
// it within its window. A process that remembers nothing of earlier runs
// thus deletes on time and weighs what its predecessors removed.
func RecallMarked(ctx context.Context, st Store, blocks []Block, out Outcome, limit int, owns func(resourceID string) bool) (*State, error) {
	ms := &markingStore{Store: st, marks: map[string]string{}}
	prev, err := Recall(ctx, ms, blocks, out, limit, owns)
	if err != nil {
		return nil, err
	}
	prev.marks = map[account.ID]time.Time{}
	for k, fj := range prev.jobs {
		if v, ok := ms.marks[fj.job.Path]; ok {
			// A mark that does not parse is kept as a zero time: marked,
			// when unknown (the guard takes it as now, the plan marks anew).
			at, _ := time.Parse(time.RFC3339, v)
			prev.marks[k] = at
		}
	}
	return prev, nil
}

// markingStore is a Store that notes the gone mark of each secret it
// reads, by path.
type markingStore struct {
	Store
	mu    sync.Mutex
	marks map[string]string
}

// Read implements Store.
func (m *markingStore) Read(ctx context.Context, path string) (sinks.State, error) {
	cur, err := m.Store.Read(ctx, path)
	if err != nil {
		return cur, err
	}
	// The time in the data ("delete" writes it) outranks the metadata's,
	// which a writer of the metadata alone can move.
	v, ok := cur.Metadata[plan.MetaSourceGone]
	if at, inData := cur.Data.Field(plan.FieldGoneAt); inData {
		v, ok = at.Reveal(), true
	}
	if ok {
		m.mu.Lock()
		m.marks[path] = v
		m.mu.Unlock()
	}
	return cur, err
}

// With is s completed by the accounts of more that s lacks, with their
// marks: what the daemon holds, and what a recall found in Vault besides
// (the marked secrets of accounts removed by earlier runs, which a block
// that deletes must find again at every run to delete them in time).
func (s *State) With(more *State) *State {
	switch {
	case more == nil:
		return s
	case s == nil:
		return more
	}
	out := &State{jobs: maps.Clone(s.jobs), marks: maps.Clone(s.marks),
		left: append(slices.Clip(s.left), more.left...), moreLeft: s.moreLeft + more.moreLeft}
	if out.marks == nil {
		out.marks = map[account.ID]time.Time{}
	}
	for k, fj := range more.jobs {
		if _, ok := out.jobs[k]; ok {
			continue
		}
		out.jobs[k] = fj
		if at, ok := more.marks[k]; ok {
			out.marks[k] = at
		}
	}
	return out
}

package scheduler

import (
	"container/heap"
	"time"
)

// slot is an account's place in a queue: the time the loop must look at
// it again, and where it is in the heap.
type slot struct {
	at    stamp
	index int
	q     *queue // the queue the account is in; nil when in none
}

// queue is a min-heap of accounts by a slot's time, so that a turn looks
// only at the accounts whose time has come: O(log n) each, not a scan.
// Ties go by account id (a hash of the key), so that the order is the same
// on every run, and the accounts of one subscription, which sort together
// by key, take turns with the others' (a subscription's are paced).
type queue struct {
	items []*state
	slot  func(*state) *slot
}

func newQueue(slot func(*state) *slot) queue { return queue{slot: slot} }

func (q *queue) Len() int { return len(q.items) }

func (q *queue) Less(i, j int) bool {
	a, b := q.slot(q.items[i]).at, q.slot(q.items[j]).at
	if a != b {
		return a < b
	}
	return q.items[i].id.Compare(q.items[j].id) < 0
}

func (q *queue) Swap(i, j int) {
	q.items[i], q.items[j] = q.items[j], q.items[i]
	q.slot(q.items[i]).index = i
	q.slot(q.items[j]).index = j
}

// Push is heap.Interface's; use add.
func (q *queue) Push(x any) {
	st := x.(*state)
	sl := q.slot(st)
	sl.index, sl.q = len(q.items), q
	q.items = append(q.items, st)
}

// Pop is heap.Interface's; use remove.
func (q *queue) Pop() any {
	n := len(q.items) - 1
	st := q.items[n]
	q.items[n] = nil
	q.items = q.items[:n]
	sl := q.slot(st)
	sl.index, sl.q = -1, nil
	return st
}

// top is the account with the earliest time, nil when the queue is empty.
func (q *queue) top() *state {
	if len(q.items) == 0 {
		return nil
	}
	return q.items[0]
}

// add puts st in the queue at time at, taking it out of the queue it was
// in (of those that share st's slot) first.
func (q *queue) add(st *state, at time.Time) {
	sl := q.slot(st)
	if sl.q == q {
		sl.at = stampOf(at)
		heap.Fix(q, sl.index)
		return
	}
	leave(sl)
	sl.at = stampOf(at)
	heap.Push(q, st)
}

// leave takes the account out of the queue that sl places it in, if any.
func leave(sl *slot) {
	if sl.q != nil {
		heap.Remove(sl.q, sl.index)
	}
}

// init rebuilds the heap after the times of many accounts changed.
func (q *queue) init() { heap.Init(q) }

package runner

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Problems remembers, per path, the rotation metadata keysync did not
// trust (plan.RotationPlan.Problems): a time later than the version it
// describes, a record that does not parse or cannot be in flight any
// more, a mount that cannot rotate. Each is ignored and repaired by the
// sync that finds it, so the record of what was found outlives the
// repair: an operator looking later still sees that someone wrote the
// metadata. The daemon keeps one across reloads and reports it in
// /status, /readyz and the metrics; a change is logged once, not at every
// sync.
type Problems struct {
	mu sync.Mutex
	m  map[string]*ProblemReport
	// found counts the syncs that found a problem.
	found atomic.Uint64
}

// ProblemReport is what the last sync of a path that found rotation
// problems found, and whether the path's latest sync found them still.
type ProblemReport struct {
	Path     string
	Problems []string
	At       time.Time
	// Current is true while the path's latest sync found problems.
	Current bool
}

// NewProblems returns an empty Problems.
func NewProblems() *Problems { return &Problems{m: map[string]*ProblemReport{}} }

// note records what a sync of path found at now, and reports whether it
// differs from what the path's last sync found.
func (p *Problems) note(path string, found []string, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	prev, ok := p.m[path]
	if len(found) == 0 {
		if !ok || !prev.Current {
			return false
		}
		prev.Current = false
		return true
	}
	p.found.Add(1)
	changed := !ok || !prev.Current || !slices.Equal(prev.Problems, found)
	// A copy of path: the entry outlives the job, whose path may be a
	// piece of a larger string its holder made.
	p.m[strings.Clone(path)] = &ProblemReport{Path: strings.Clone(path), Problems: slices.Clone(found), At: now, Current: true}
	return changed
}

// Reports lists, by path, what each path's last problem-finding sync
// found.
func (p *Problems) Reports() []ProblemReport {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]ProblemReport, 0, len(p.m))
	for _, path := range slices.Sorted(maps.Keys(p.m)) {
		r := *p.m[path]
		r.Problems = slices.Clone(r.Problems)
		out = append(out, r)
	}
	return out
}

// Current counts the paths whose latest sync found problems.
func (p *Problems) Current() int {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, r := range p.m {
		if r.Current {
			n++
		}
	}
	return n
}

// Found counts the syncs that found problems.
func (p *Problems) Found() uint64 {
	if p == nil {
		return 0
	}
	return p.found.Load()
}

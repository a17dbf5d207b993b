package runner

import (
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/keysync/keysync/sync/plan"
)

// Pending remembers rotations whose regenerate succeeded but whose write has
// not: the one case where a stale Vault is dangerous, since Azure no longer
// accepts the key it replaced. Until the write lands, the account is
// retried without regenerating again. The daemon keeps one across reloads
// and reports it in /readyz.
type Pending struct {
	mu sync.Mutex
	m  map[string]plan.RotationPlan
}

// NewPending returns an empty Pending.
func NewPending() *Pending { return &Pending{m: map[string]plan.RotationPlan{}} }

// Paths lists the paths that wait for a rotated key.
func (p *Pending) Paths() []string {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Sorted(maps.Keys(p.m))
}

func (p *Pending) get(path string) (plan.RotationPlan, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	rp, ok := p.m[path]
	return rp, ok
}

func (p *Pending) set(path string, rp plan.RotationPlan) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// A copy: the entry outlives the job, whose path may be a piece of
	// a larger string its holder made.
	p.m[strings.Clone(path)] = rp
}

func (p *Pending) clear(path string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.m, path)
}

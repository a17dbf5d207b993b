package runner

import (
	"sync"
	"time"
)

// meter records, for each kind of call and for all of them ("all"), the
// most callers at once.
type meter struct {
	mu       sync.Mutex
	cond     *sync.Cond
	now, max map[string]int
	late     bool // a holder waited a minute: every holder goes on
}

func newMeter() *meter {
	m := &meter{now: map[string]int{}, max: map[string]int{}}
	m.cond = sync.NewCond(&m.mu)
	return m
}

// hold is one call of kind: it waits until ready holds (called under the
// meter's lock), or a minute has passed, then stays a moment more.
func (m *meter) hold(kind string, ready func() bool) {
	m.enter(kind)
	defer m.leave(kind)
	m.wait(ready)
	time.Sleep(2 * time.Millisecond) // widens the window for a call past a bound, not synchronisation
}

func (m *meter) wait(ready func() bool) {
	timer := time.AfterFunc(time.Minute, func() {
		m.mu.Lock()
		m.late = true
		m.mu.Unlock()
		m.cond.Broadcast()
	})
	defer timer.Stop()
	m.mu.Lock()
	defer m.mu.Unlock()
	for !ready() && !m.late {
		m.cond.Wait()
	}
}

func (m *meter) enter(kind string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range []string{kind, "all"} {
		m.now[k]++
		m.max[k] = max(m.max[k], m.now[k])
	}
	m.cond.Broadcast()
}

func (m *meter) leave(kind string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.now[kind]--
	m.now["all"]--
	m.cond.Broadcast()
}

package metrics

import (
	"math"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/keysync/keysync/sync/runner"
)

// outcomes are the results keysync_sync_total counts in place, by index;
// another result (none today) goes to an account's other map.
var outcomes = runner.Outcomes

// outcomeIndex is the index in outcomes of result, or -1.
func outcomeIndex(result string) int { return runner.OutcomeIndex(result) }

// Which of an account's gauges and counters have a series: a counter
// has one from its first increment, a gauge from its first Set.
const (
	hasLastSuccess uint32 = 1 << iota
	hasBackoff
	hasSkipped
	hasRotation
)

// account is one account label's series, held as plain numbers: the
// estate can hold 100,000 accounts, and a client_golang vector keeps
// several hundred bytes per series (label pairs, a created timestamp, a
// hash map entry) where these keep four or eight. A 32-bit count of one
// account's syncs of one result lasts millennia at a sync a minute.
type account struct {
	syncs   [len(outcomes)]atomic.Uint32
	has     atomic.Uint32
	skipped atomic.Uint32
	// Unix seconds, which fit 32 bits until 2106; the backoff is a
	// float32's bits. The account then fits 64 bytes, not 80.
	lastSuccess  atomic.Uint32
	lastRotation atomic.Uint32
	backoff      atomic.Uint32
	// other counts results not in outcomes (none today).
	other atomic.Pointer[otherResults]
}

// otherResults counts results not in outcomes; mu guards n.
type otherResults struct {
	mu sync.Mutex
	n  map[string]uint64
}

// accounts is a prometheus.Collector of the per-account series. Readers
// of a known account take mu shared; adding or removing one takes it
// whole, as does nothing else.
type accounts struct {
	syncs, lastSuccess, backoff, skipped, rotations *prometheus.Desc
	help                                            map[string]string // by metric name
	mu                                              sync.RWMutex
	byLabel                                         map[string]*account
}

// get returns label's account, adding it if new.
func (as *accounts) get(label string) *account {
	as.mu.RLock()
	a := as.byLabel[label]
	as.mu.RUnlock()
	if a != nil {
		return a
	}
	as.mu.Lock()
	defer as.mu.Unlock()
	if a = as.byLabel[label]; a == nil {
		a = &account{}
		as.byLabel[label] = a
	}
	return a
}

// synced counts a sync of result for label.
func (as *accounts) synced(label, result string) {
	a := as.get(label)
	if i := outcomeIndex(result); i >= 0 {
		a.syncs[i].Add(1)
		return
	}
	o := a.other.Load()
	if o == nil {
		a.other.CompareAndSwap(nil, &otherResults{n: map[string]uint64{}})
		o = a.other.Load()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.n[result]++
}

// set stores v in the field of label's account and marks its series.
func (as *accounts) set(label string, flag uint32, set func(*account)) {
	a := as.get(label)
	set(a)
	a.has.Or(flag)
}

// remove drops every series of label.
func (as *accounts) remove(label string) {
	as.mu.Lock()
	defer as.mu.Unlock()
	delete(as.byLabel, label)
}

// Describe sends the descriptors of the per-account metrics.
func (as *accounts) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{as.syncs, as.lastSuccess, as.backoff, as.skipped, as.rotations} {
		ch <- d
	}
}

// Collect sends every account's series, as the vectors they replace did.
func (as *accounts) Collect(ch chan<- prometheus.Metric) {
	as.mu.RLock()
	defer as.mu.RUnlock()
	for label, a := range as.byLabel {
		as.collect(ch, label, a)
	}
}

var (
	accountLabel = "account"
	resultLabel  = "result"
	// resultPairs are the result label of each of outcomes, shared.
	resultPairs = func() (out [len(outcomes)]*dto.LabelPair) {
		for i := range outcomes {
			out[i] = &dto.LabelPair{Name: &resultLabel, Value: &outcomes[i]}
		}
		return out
	}()
)

// collect sends one account's series; the account label pair is made once
// for them all.
func (as *accounts) collect(ch chan<- prometheus.Metric, label string, a *account) {
	pair := []*dto.LabelPair{{Name: &accountLabel, Value: &label}}
	for i := range outcomes {
		if n := a.syncs[i].Load(); n > 0 {
			ch <- &series{desc: as.syncs, labels: []*dto.LabelPair{pair[0], resultPairs[i]}, counter: true, value: float64(n)}
		}
	}
	as.collectOther(ch, pair[0], a)
	has := a.has.Load()
	send := func(flag uint32, desc *prometheus.Desc, counter bool, v float64) {
		if has&flag != 0 {
			ch <- &series{desc: desc, labels: pair, counter: counter, value: v}
		}
	}
	send(hasLastSuccess, as.lastSuccess, false, float64(a.lastSuccess.Load()))
	send(hasBackoff, as.backoff, false, float64(math.Float32frombits(a.backoff.Load())))
	send(hasSkipped, as.skipped, true, float64(a.skipped.Load()))
	send(hasRotation, as.rotations, false, float64(a.lastRotation.Load()))
}

// collectOther sends the counts of results not in outcomes.
func (as *accounts) collectOther(ch chan<- prometheus.Metric, pair *dto.LabelPair, a *account) {
	o := a.other.Load()
	if o == nil {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for result, n := range o.n {
		ch <- &series{desc: as.syncs, labels: []*dto.LabelPair{pair, {Name: &resultLabel, Value: &result}}, counter: true, value: float64(n)}
	}
}

// series is one sample of a scrape: made while it runs and dropped after.
type series struct {
	desc    *prometheus.Desc
	labels  []*dto.LabelPair // sorted by name, as Write must give them
	counter bool
	value   float64
}

func (s *series) Desc() *prometheus.Desc { return s.desc }

// Write fills m with the sample.
func (s *series) Write(m *dto.Metric) error {
	v := s.value
	m.Label = s.labels
	if s.counter {
		m.Counter = &dto.Counter{Value: &v}
	} else {
		m.Gauge = &dto.Gauge{Value: &v}
	}
	return nil
}

package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keysync/keysync/sinks"
	"github.com/keysync/keysync/sinks/memsink"
	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sources/memsource"
	"github.com/keysync/keysync/sync/account"
	"github.com/keysync/keysync/sync/plan"
)

// The fast tier: the runner between an in-memory source and sink, with a
// fake clock. No Vault, no emulator, no real sleep; `go test -short
// ./sync/...` runs only this tier.

// fakeClock is a clock that moves only when a test moves it, or when the
// runner sleeps (it records the wait and jumps ahead).
type fakeClock struct {
	mu    sync.Mutex
	t     time.Time
	waits []time.Duration
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waits = append(c.waits, d)
	c.t = c.t.Add(d)
	return ctx.Err()
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is a runner wired to fresh in-memory parts, logging to a buffer.
type fixture struct {
	src   *memsource.Source
	sink  *memsink.Sink
	clock *fakeClock
	logs  *bytes.Buffer
	r     *Runner
}

func newFixture() *fixture {
	f := &fixture{src: memsource.New(), sink: memsink.New(), clock: newClock(), logs: &bytes.Buffer{}}
	f.sink.Now = f.clock.Now
	f.r = &Runner{Source: f.src, Sink: f.sink, Logger: slog.New(slog.NewTextHandler(&lockedWriter{w: f.logs}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Concurrency: 4, Retry: RetryPolicy{Attempts: 4, Base: time.Second, Max: 8 * time.Second, MaxRetryAfter: time.Minute},
		Now: f.clock.Now, Sleep: f.clock.Sleep}
	return f
}

// job adds an account with Batch's two keys and returns its job.
func (f *fixture) job(name string) account.Job {
	a := sources.Account{SubscriptionID: "sub-" + name[:1], ResourceGroup: "rg", Name: name}
	f.src.Add(a, "primary", "secondary")
	return account.Job{Account: a, Path: "fast/" + name}
}

// inSync asserts the sink holds the source's current keys for job.
func (f *fixture) inSync(t *testing.T, job account.Job) {
	t.Helper()
	data, _, _ := f.sink.Get(job.Path)
	for k, v := range f.src.Keys(job.Account) {
		if data[k] != v {
			t.Fatalf("%s: field %s is not the source's key", job.Path, k)
		}
	}
}

// noKeyIn fails if any key the source ever held appears in s.
func (f *fixture) noKeyIn(t *testing.T, what, s string, jobs ...account.Job) {
	t.Helper()
	for _, j := range jobs {
		for k, v := range f.src.Keys(j.Account) {
			if strings.Contains(s, v) {
				t.Fatalf("%s holds the value of %s's %s key", what, j.Account.Name, k)
			}
		}
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestFastCreateThenUnchanged(t *testing.T) {
	f := newFixture()
	jobs := []account.Job{f.job("alpha"), f.job("bravo")}
	for _, res := range f.r.Run(context.Background(), jobs) {
		if res.Err != nil || res.Change.Action != plan.Create {
			t.Fatalf("%s: %v %v", res.Job.Path, res.Change.Action, res.Err)
		}
		f.inSync(t, res.Job)
		_, meta, _ := f.sink.Get(res.Job.Path)
		if meta[plan.MetaManagedBy] != plan.ManagedByValue {
			t.Fatalf("no ownership mark: %v", meta)
		}
	}
	writes := f.sink.Writes()
	for _, res := range f.r.Run(context.Background(), jobs) {
		if res.Err != nil || res.Change.Action != plan.Unchanged {
			t.Fatalf("second run %s: %v %v", res.Job.Path, res.Change.Action, res.Err)
		}
	}
	if f.sink.Writes() != writes {
		t.Fatalf("an unchanged run wrote %d times", f.sink.Writes()-writes)
	}
}

func TestFastUpdateKeepsForeignFields(t *testing.T) {
	f := newFixture()
	job := f.job("alpha")
	f.r.Sync(context.Background(), job)
	data, meta, _ := f.sink.Get(job.Path)
	data["owner"], meta["team"] = "payments", "x"
	f.sink.Put(job.Path, data, meta)
	if _, err := f.src.Regenerate(context.Background(), job.Account, "secondary"); err != nil {
		t.Fatal(err)
	}
	res := f.r.Sync(context.Background(), job)
	if res.Err != nil || res.Change.Action != plan.Update || len(res.Change.Fields) != 1 {
		t.Fatalf("%v %v %v", res.Change.Action, res.Change.Fields, res.Err)
	}
	f.inSync(t, job)
	data, meta, versions := f.sink.Get(job.Path)
	if data["owner"] != "payments" || meta["team"] != "x" || versions != 3 {
		t.Fatalf("foreign field %v, metadata %v, %d versions", data["owner"], meta["team"], versions)
	}
}

// TestFastConflictReplans: another writer between keysync's read and its
// write makes the runner read and plan again, within the same attempt.
func TestFastConflictReplans(t *testing.T) {
	f := newFixture()
	job := f.job("alpha")
	f.r.Sync(context.Background(), job)
	if _, err := f.src.Regenerate(context.Background(), job.Account, "primary"); err != nil {
		t.Fatal(err)
	}
	var raced atomic.Bool
	f.sink.Hook = func(_ context.Context, op, path string) error {
		if op == "write" && raced.CompareAndSwap(false, true) {
			data, _, _ := f.sink.Get(path)
			data["owner"] = "racer"
			f.sink.Put(path, data, nil)
		}
		return nil
	}
	res := f.r.Sync(context.Background(), job)
	if res.Err != nil || res.Attempts != 1 || res.Change.Action != plan.Update {
		t.Fatalf("%v after %d attempts: %v", res.Change.Action, res.Attempts, res.Err)
	}
	f.inSync(t, job)
	if data, _, _ := f.sink.Get(job.Path); data["owner"] != "racer" {
		t.Fatal("the racing writer's field was lost")
	}
}

func TestFastRetries(t *testing.T) {
	throttled := &sources.Error{StatusCode: 429, Code: "TooManyRequests", Transient: true, RetryAfter: 20 * time.Second}
	tests := []struct {
		name     string
		fail     error
		failures int
		attempts int
		ok       bool
		minWait  time.Duration
	}{
		{"transient then fine", &sources.Error{StatusCode: 503, Transient: true}, 2, 3, true, 0},
		{"retry-after is never cut short", throttled, 1, 2, true, 20 * time.Second},
		{"permanent is not retried", &sources.Error{StatusCode: 403, Code: "AuthorizationFailed"}, 9, 1, false, 0},
		{"shared credential failure is not retried per account", &sources.Error{Code: "AuthenticationFailed", Transient: true, Credential: true}, 9, 1, false, 0},
		{"transient to the end gives up after Attempts", &sources.Error{StatusCode: 500, Transient: true}, 9, 4, false, 0},
		{"retry-after beyond the cap fails now", &sources.Error{StatusCode: 429, Transient: true, RetryAfter: time.Hour}, 9, 1, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture()
			job := f.job("alpha")
			var n atomic.Int32
			f.src.Hook = func(context.Context, string, sources.Account) error {
				if int(n.Add(1)) <= tt.failures {
					return tt.fail
				}
				return nil
			}
			res := f.r.Sync(context.Background(), job)
			if (res.Err == nil) != tt.ok || res.Attempts != tt.attempts {
				t.Fatalf("err %v after %d attempts, want ok=%t after %d", res.Err, res.Attempts, tt.ok, tt.attempts)
			}
			for _, w := range f.clock.waits {
				if w < tt.minWait {
					t.Fatalf("waited %v, less than the server's %v", w, tt.minWait)
				}
			}
			if _, _, v := f.sink.Get(job.Path); (v == 1) != tt.ok {
				t.Fatalf("%d versions after ok=%t", v, tt.ok)
			}
		})
	}
}

// TestFastFailingAccountStopsNoOther: one account's permanent failure and
// another's failing sink leave the rest written.
func TestFastFailingAccountStopsNoOther(t *testing.T) {
	f := newFixture()
	jobs := []account.Job{f.job("alpha"), f.job("bravo"), f.job("charlie"), f.job("delta")}
	f.src.Hook = func(_ context.Context, _ string, a sources.Account) error {
		if a.Name == "bravo" {
			return &sources.Error{StatusCode: 404, Code: "ResourceNotFound"}
		}
		return nil
	}
	f.sink.Hook = func(_ context.Context, op, path string) error {
		if op == "write" && path == "fast/charlie" {
			return &sinks.Error{Op: "write", Path: path, StatusCode: 403, Err: errors.New("permission denied")}
		}
		return nil
	}
	results := f.r.Run(context.Background(), jobs)
	for i, wantErr := range []bool{false, true, true, false} {
		if (results[i].Err != nil) != wantErr {
			t.Fatalf("%s: err %v", jobs[i].Path, results[i].Err)
		}
	}
	f.inSync(t, jobs[0])
	f.inSync(t, jobs[3])
}

func TestFastDryRunWritesNothing(t *testing.T) {
	f := newFixture()
	f.r.DryRun = true
	job := f.job("alpha")
	job.Rotate = &plan.Rotation{Every: time.Hour}
	res := f.r.Sync(context.Background(), job)
	if res.Err != nil || res.Change.Action != plan.Create || f.sink.Writes() != 0 || f.src.Calls("regenerate", job.Account) != 0 {
		t.Fatalf("dry run: %v %v, %d writes", res.Change.Action, res.Err, f.sink.Writes())
	}
	f.noKeyIn(t, "the dry run's log", f.logs.String(), job)
}

// TestFastResultsHoldNoKeys: what outlives a sync (results, the log)
// holds names and fingerprints only.
func TestFastResultsHoldNoKeys(t *testing.T) {
	f := newFixture()
	jobs := []account.Job{f.job("alpha"), f.job("bravo")}
	results := f.r.Run(context.Background(), jobs)
	f.noKeyIn(t, "the results", fmt.Sprintf("%+v %#v", results, results), jobs...)
	f.noKeyIn(t, "the log", f.logs.String(), jobs...)
	if results[0].Change.Write.WritesData() {
		t.Fatal("a result keeps the write")
	}
}

func TestFastFieldsSelectAndRename(t *testing.T) {
	f := newFixture()
	job := f.job("alpha")
	job.Fields = map[string]string{"primary": "key"}
	if res := f.r.Sync(context.Background(), job); res.Err != nil {
		t.Fatal(res.Err)
	}
	data, _, _ := f.sink.Get(job.Path)
	// The named field, under its new name, and keysync's data mark.
	if len(data) != 2 || data["key"] != f.src.Keys(job.Account)["primary"] || data[plan.FieldOwner] != job.Account.Key() {
		t.Fatalf("wrote fields %v", len(data))
	}
	job.Fields = map[string]string{"tertiary": "key"}
	if res := f.r.Sync(context.Background(), job); res.Err == nil || !strings.Contains(res.Err.Error(), `"tertiary"`) {
		t.Fatalf("missing field: %v", res.Err)
	}
}

// TestFastConcurrencyBounds: no more calls in flight than each bound
// allows, per subscription and to the sink. Each kind of call waits until
// its bound has been reached once, so that the bound is met however
// slowly the machine runs the workers; then it stays a moment more, so
// that a call past the bound can show.
func TestFastConcurrencyBounds(t *testing.T) {
	f := newFixture()
	f.r.Concurrency, f.r.SubscriptionConcurrency, f.r.VaultConcurrency = 8, 2, 3
	var jobs []account.Job
	for i := range 24 {
		jobs = append(jobs, f.job(fmt.Sprintf("%c%02d", 'a'+i%2, i)))
	}
	m := newMeter()
	f.src.Hook = func(_ context.Context, _ string, a sources.Account) error {
		m.hold(a.SubscriptionID, func() bool { return m.max[a.SubscriptionID] >= 2 })
		return nil
	}
	f.sink.Hook = func(context.Context, string, string) error {
		m.hold("sink", func() bool { return m.max["sink"] >= 3 })
		return nil
	}
	for _, res := range f.r.Run(context.Background(), jobs) {
		if res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	for _, sub := range []string{"sub-a", "sub-b"} {
		if m.max[sub] != 2 {
			t.Errorf("%s: %d fetches at once, want exactly the bound 2", sub, m.max[sub])
		}
	}
	if m.max["sink"] != 3 {
		t.Errorf("%d sink calls at once, want exactly the bound 3", m.max["sink"])
	}
}

func TestFastCancelledRunReportsEveryJob(t *testing.T) {
	f := newFixture()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	results := f.r.Run(ctx, []account.Job{f.job("alpha"), f.job("bravo"), f.job("charlie")})
	for _, res := range results {
		if res.Err == nil {
			t.Fatalf("%s succeeded after cancel", res.Job.Path)
		}
	}
	if f.sink.Writes() != 0 {
		t.Fatal("a cancelled run wrote")
	}
}

// TestFastRemovedAccounts: an account discovery no longer finds is kept,
// marked or deleted as configured, without a call to the source; a delete
// marks first and deletes only once the mark is DeleteAfter old; and a
// secret keysync does not own is never deleted.
func TestFastRemovedAccounts(t *testing.T) {
	f := newFixture()
	f.r.DeleteAfter = 7 * 24 * time.Hour
	mark, del, theirs := f.job("alpha"), f.job("bravo"), f.job("charlie")
	f.r.Run(context.Background(), []account.Job{mark, del})
	f.sink.Put(theirs.Path, map[string]any{"k": "v"}, map[string]string{"team": "x"})
	mark.Remove, del.Remove, theirs.Remove = plan.RemoveMark, plan.RemoveDelete, plan.RemoveDelete
	fetches := f.src.Calls("fetch", mark.Account)
	results := f.r.Run(context.Background(), []account.Job{mark, del, theirs})
	if results[0].Err != nil || results[0].Change.Action != plan.Mark || results[1].Change.Action != plan.Mark || !errors.Is(results[2].Err, ErrRefused) {
		t.Fatalf("%v %v %v", results[0].Change.Action, results[1].Change.Action, results[2].Err)
	}
	for _, p := range []string{mark.Path, del.Path} {
		if _, meta, _ := f.sink.Get(p); meta[plan.MetaSourceGone] == "" {
			t.Fatalf("%s not marked", p)
		}
	}
	f.clock.Advance(f.r.DeleteAfter - time.Second)
	if res := f.r.Run(context.Background(), []account.Job{del}); res[0].Change.Action != plan.Unchanged || !strings.Contains(res[0].Change.Describe(), "delete_after") {
		t.Fatalf("deleted before delete_after: %v %s", res[0].Change.Action, res[0].Change.Describe())
	}
	f.clock.Advance(time.Second)
	results = append(results[:2], f.r.Run(context.Background(), []account.Job{del, mark})...)
	if _, _, v := f.sink.Get(del.Path); v != 0 {
		t.Fatal("not deleted")
	}
	if data, _, _ := f.sink.Get(theirs.Path); data["k"] != "v" {
		t.Fatal("another's secret was deleted")
	}
	if _, meta, _ := f.sink.Get(mark.Path); meta[plan.MetaSourceGone] == "" || f.src.Calls("fetch", mark.Account) != fetches {
		t.Fatal("a mark was deleted, or a removal fetched keys")
	}
	if got := Summarize(results).String(); !strings.Contains(got, "2 marked gone, 1 deleted") {
		t.Fatalf("summary %q", got)
	}
}

// TestFastSourceStaysBusyWhileTheSinkWrites: while some jobs wait on the
// sink, Concurrency others keep calling the source, and neither bound is
// passed. The first sink calls wait until three calls are in at once, and
// source calls made while the sink is busy wait for the same, so that a
// runner that lets the source idle while the sink works never gets there.
func TestFastSourceStaysBusyWhileTheSinkWrites(t *testing.T) {
	f := newFixture()
	f.r.Concurrency, f.r.VaultConcurrency = 2, 2
	var jobs []account.Job
	for i := range 16 {
		jobs = append(jobs, f.job(fmt.Sprintf("a%02d", i)))
	}
	m := newMeter()
	f.src.Hook = func(context.Context, string, sources.Account) error {
		m.hold("source", func() bool { return m.max["source"] >= 2 && (m.max["all"] >= 3 || m.now["sink"] == 0) })
		return nil
	}
	f.sink.Hook = func(context.Context, string, string) error {
		m.hold("sink", func() bool { return m.max["all"] >= 3 })
		return nil
	}
	for _, res := range f.r.Run(context.Background(), jobs) {
		if res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	if m.max["source"] != 2 || m.max["sink"] > 2 || m.max["all"] < 3 {
		t.Fatalf("source %d at once (want 2), sink %d (want <= 2), both %d (want > 2)", m.max["source"], m.max["sink"], m.max["all"])
	}
}

// TestOutcomesNameEveryAction: Outcomes holds every name Outcome gives, so
// that holders indexing by it lose none.
func TestOutcomesNameEveryAction(t *testing.T) {
	for a := plan.Unchanged; a <= plan.Delete; a++ {
		if OutcomeIndex(a.String()) < 0 {
			t.Errorf("action %s is not in Outcomes", a)
		}
	}
	for _, r := range []Result{{Err: ErrRefused}, {Err: errors.New("x")}, {Change: plan.Change{Rotation: plan.RotationPlan{Held: "secondary"}}}} {
		if OutcomeIndex(Outcome(r)) < 0 {
			t.Errorf("outcome %s is not in Outcomes", Outcome(r))
		}
	}
}

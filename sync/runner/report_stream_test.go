package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/account"
	"github.com/keysync/keysync/sync/plan"
)

// TestReportStreamsAlignedLines: lines come out as results are added, in
// their order, aligned on columns sized from the jobs before any result,
// and the summary counts them.
func TestReportStreamsAlignedLines(t *testing.T) {
	jobs := []account.Job{
		{Account: sources.Account{Name: "a"}, Path: "kv/a"},
		{Account: sources.Account{Name: "longer-name"}, Path: "kv/deeper/path/b"},
	}
	tests := []struct {
		name   string
		dryRun bool
		add    []Result
		want   []string
	}{
		{
			name: "completion order, failures counted",
			add: []Result{
				{Job: jobs[1], Change: plan.Change{Action: plan.Create}},
				{Job: jobs[0], Err: errors.New("boom"), Attempts: 2},
			},
			want: []string{
				"keysync run: 2 accounts",
				"ACTION           ACCOUNT      PATH              DETAIL",
				"create           longer-name  kv/deeper/path/b  ",
				"failed           a            kv/a              boom (2 attempts)",
				"summary: 1 created, 0 updated, 0 unchanged, 0 adopted, 0 metadata repaired, 1 failed",
			},
		},
		{
			name:   "dry run title",
			dryRun: true,
			add:    []Result{{Job: jobs[0], Change: plan.Change{Action: plan.Unchanged}}},
			want: []string{
				"keysync plan (dry run: nothing written): 2 accounts",
				"ACTION           ACCOUNT      PATH              DETAIL",
				"unchanged        a            kv/a              ",
				"summary: 0 created, 0 updated, 1 unchanged, 0 adopted, 0 metadata repaired, 0 failed",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			rep := NewReport(&out, jobs, tt.dryRun)
			for i, r := range tt.add {
				rep.Add(r)
				// Written at once, not at Close.
				if got := strings.Count(out.String(), "\n"); got != 2+i+1 {
					t.Fatalf("after %d results: %d lines written, want %d", i+1, got, 2+i+1)
				}
			}
			sum, err := rep.Close()
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"); strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("report:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if sum != Summarize(tt.add) {
				t.Fatalf("summary %+v, want %+v", sum, Summarize(tt.add))
			}
		})
	}
}

// TestReportStopsAtAFailedWrite: a report that cannot be written says so
// once, at Close, and does not go on trying line by line.
func TestReportStopsAtAFailedWrite(t *testing.T) {
	w := &failingWriter{after: 1}
	rep := NewReport(w, []account.Job{{Account: sources.Account{Name: "a"}, Path: "kv/a"}}, false)
	rep.Add(Result{Job: account.Job{Account: sources.Account{Name: "a"}, Path: "kv/a"}})
	if _, err := rep.Close(); err == nil {
		t.Fatal("Close: no error after a failed write")
	}
	if w.calls != 2 {
		t.Fatalf("%d writes tried, want 2 (the title, then the header that failed)", w.calls)
	}
}

// TestRunEachHandsEveryResultOnce: every job's result reaches done once,
// with its index, and never two calls at a time.
func TestRunEachHandsEveryResultOnce(t *testing.T) {
	f := newFixture()
	var jobs []account.Job
	for i := range 40 {
		jobs = append(jobs, f.job(fmt.Sprintf("acct%02d", i)))
	}
	seen := make([]int, len(jobs))
	inside := 0
	f.r.RunEach(context.Background(), jobs, func(i int, r Result) {
		inside++
		defer func() { inside-- }()
		if inside != 1 {
			t.Errorf("%d calls of done at once", inside)
		}
		if r.Job.Path != jobs[i].Path || r.Err != nil || r.Change.Action != plan.Create {
			t.Errorf("result %d: %s %v %v, want %s created", i, r.Job.Path, r.Change.Action, r.Err, jobs[i].Path)
		}
		seen[i]++
	})
	for i, n := range seen {
		if n != 1 {
			t.Errorf("job %d: %d results, want 1", i, n)
		}
	}
}

type failingWriter struct{ after, calls int }

func (w *failingWriter) Write(p []byte) (int, error) {
	w.calls++
	if w.calls > w.after {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

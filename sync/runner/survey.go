package runner

import (
	"context"

	"github.com/keysync/keysync/sinks"
	"github.com/keysync/keysync/sync/account"
)

// Survey asks the sink, when it can tell in a few requests (a
// sinks.Surveyor: a LIST per folder on Vault KV v2), which of the jobs'
// paths hold nothing at all, and sets Absent on those jobs: their sync
// plans a create without reading first, so that a create costs the sink
// two requests, not three. Nothing but that saving rests on the answer:
// a secret that appears after the survey fails the create's
// check-and-set, and the sync reads and plans again (attempt). A survey
// the sink refuses (a policy without list) costs a log line: every sync
// reads first. Survey jobs that run once, right after it (--run-now).
func (r *Runner) Survey(ctx context.Context, jobs []account.Job) {
	sv, ok := r.Sink.(sinks.Surveyor)
	if !ok || len(jobs) == 0 {
		return
	}
	paths := make([]string, len(jobs))
	for i, j := range jobs {
		paths[i] = j.Path
	}
	absent, err := sv.Absent(ctx, paths)
	if err != nil {
		r.logger().Info("cannot list the secrets' folders; each create reads first", "err", err)
		return
	}
	if len(absent) != len(jobs) {
		return // a sink that could not tell (nil), or a broken one
	}
	for i := range jobs {
		jobs[i].Absent = absent[i] && jobs[i].Remove == ""
	}
}

// read is what the sink holds at the job's path: nothing, without asking,
// on the first read of a job a survey found absent, or else what the sink
// answers.
func (r *Runner) read(ctx context.Context, job account.Job, first bool) (sinks.State, error) {
	if first && job.Absent {
		return sinks.State{Versioned: true}, nil
	}
	return r.sink().Read(ctx, job.Path)
}

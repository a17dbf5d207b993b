package runner

import (
	"context"
	"sync"

	"github.com/keysync/keysync/sinks"
	"github.com/keysync/keysync/sync/account"
)

// absentPaths are the paths a survey found holding nothing, each good for
// its job's first read once.
type absentPaths struct {
	mu    sync.Mutex
	paths map[string]struct{}
}

// Survey asks the sink, when it can tell in a few requests (a
// sinks.Surveyor: a LIST per folder on Vault KV v2), which of the jobs'
// paths hold nothing at all, and remembers them: the next sync of each
// plans its create without reading first, so that a create costs the
// sink two requests, not three. Nothing but that saving rests on the
// answer: a secret that appears after the survey fails the create's
// check-and-set, and the sync reads and plans again (attempt). A survey
// the sink refuses (a policy without list) costs nothing after it: every
// sync reads first.
func (r *Runner) Survey(ctx context.Context, jobs []account.Job) {
	sv, ok := r.Sink.(sinks.Surveyor)
	if !ok || len(jobs) == 0 {
		return
	}
	paths := make([]string, 0, len(jobs))
	for _, j := range jobs {
		if j.Remove == "" {
			paths = append(paths, j.Path)
		}
	}
	absent, err := sv.Absent(ctx, paths)
	if err != nil {
		r.logger().Info("cannot list the secrets' folders; each create reads first", "err", err)
		return
	}
	r.absent.mu.Lock()
	defer r.absent.mu.Unlock()
	if r.absent.paths == nil {
		r.absent.paths = make(map[string]struct{}, len(absent))
	}
	for _, p := range absent {
		r.absent.paths[p] = struct{}{}
	}
}

// read is what the sink holds at path: nothing, without asking, when
// first is true and a survey found the path empty (once per survey), or
// else what the sink answers.
func (r *Runner) read(ctx context.Context, path string, first bool) (sinks.State, error) {
	if first && r.takeAbsent(path) {
		return sinks.State{Versioned: true}, nil
	}
	return r.sink().Read(ctx, path)
}

func (r *Runner) takeAbsent(path string) bool {
	r.absent.mu.Lock()
	defer r.absent.mu.Unlock()
	_, ok := r.absent.paths[path]
	if ok {
		delete(r.absent.paths, path)
	}
	return ok
}

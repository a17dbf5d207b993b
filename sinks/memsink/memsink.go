// Package memsink is a secret store held in memory, for fast tests of what
// sits above a sink: the runner and the scheduler. It keeps the semantics
// keysync relies on in Vault's KV v2 engine — versions, check-and-set,
// custom metadata kept apart from data, fields of other writers — and
// classifies its failures as sinks.Error. The Vault sink is tested against
// a real Vault server; this one never replaces that.
package memsink

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/keysync/keysync/secret"
	"github.com/keysync/keysync/sinks"
)

// Sink holds secrets by path.
type Sink struct {
	// Hook, when set, runs before every call with the operation ("read",
	// "write"); an error it returns is the call's answer. Tests use it to
	// fail a call, hold it, or race another writer in.
	Hook func(ctx context.Context, op, path string) error
	// Now is the clock that dates each version, as Vault's created_time
	// does; nil means the real one.
	Now func() time.Time

	mu      sync.Mutex
	secrets map[string]*entry
	writes  int
}

type entry struct {
	versions []map[string]any // versions[i] is version i+1
	created  []time.Time      // created[i] is when version i+1 was written
	meta     map[string]string
}

// New returns an empty Sink.
func New() *Sink { return &Sink{secrets: map[string]*entry{}} }

// Read implements sinks.Sink.
func (s *Sink) Read(ctx context.Context, path string) (sinks.State, error) {
	if err := s.before(ctx, "read", path); err != nil {
		return sinks.State{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := sinks.State{Versioned: true}
	e, ok := s.secrets[path]
	if !ok {
		return st, nil
	}
	st.Metadata = maps.Clone(e.meta)
	if n := len(e.versions); n > 0 {
		st.Exists, st.Version = true, n
		st.Data = secret.NewData(maps.Clone(e.versions[n-1]))
		st.Created = e.created[n-1]
	}
	return st, nil
}

// Write implements sinks.Sink: metadata and data as Vault's KV v2 takes
// them, the data write checked and set against w.BaseVersion.
func (s *Sink) Write(ctx context.Context, path string, w sinks.Write) error {
	if err := s.before(ctx, "write", path); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if w.Delete {
		delete(s.secrets, path)
		s.writes++
		return nil
	}
	e := s.entry(path)
	if w.WritesData() {
		if w.BaseVersion != len(e.versions) {
			return &sinks.Error{Op: "write", Path: path, StatusCode: http.StatusBadRequest, Err: sinks.ErrConflict, Transient: true}
		}
		e.add(w.Data.Reveal(), s.now())
		s.writes++
	}
	switch {
	case w.Metadata != nil && w.Create:
		// As Vault's metadata PATCH: keysync's keys set, others kept.
		if e.meta == nil {
			e.meta = map[string]string{}
		}
		maps.Copy(e.meta, w.Metadata)
		s.writes++
	case w.Metadata != nil:
		e.meta = maps.Clone(w.Metadata)
		s.writes++
	}
	return nil
}

// List implements sinks.Lister: the paths under prefix that hold a
// secret (data or metadata), sorted.
func (s *Sink) List(ctx context.Context, prefix string, limit int) ([]string, error) {
	if err := s.before(ctx, "list", prefix); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	prefix = strings.Trim(prefix, "/")
	var out []string
	for p := range s.secrets {
		if prefix != "" && p != prefix && !strings.HasPrefix(p, prefix+"/") {
			continue
		}
		if len(out) >= limit {
			return nil, &sinks.Error{Op: "list", Path: prefix, Err: sinks.ErrTooMany}
		}
		out = append(out, p)
	}
	slices.Sort(out)
	return out, nil
}

// Absent implements sinks.Surveyor: the paths that hold neither data nor
// metadata.
func (s *Sink) Absent(ctx context.Context, paths []string) ([]bool, error) {
	if err := s.before(ctx, "list", ""); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]bool, len(paths))
	for i, p := range paths {
		_, held := s.secrets[p]
		out[i] = !held
	}
	return out, nil
}

// Check implements the readiness check the Vault sink answers with
// auth/token/lookup-self: a store in memory has no token to lose, so it
// answers as the hook ("check") or an ended ctx says.
func (s *Sink) Check(ctx context.Context) error {
	return s.before(ctx, "check", "")
}

// Put writes data and metadata as another writer would, unchecked.
func (s *Sink) Put(path string, data map[string]any, meta map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entry(path)
	if data != nil {
		e.add(maps.Clone(data), s.now())
	}
	if meta != nil {
		e.meta = maps.Clone(meta)
	}
}

// Get returns the latest data and the metadata at path, and the number of
// versions.
func (s *Sink) Get(path string) (data map[string]any, meta map[string]string, versions int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.secrets[path]
	if !ok {
		return nil, nil, 0
	}
	if n := len(e.versions); n > 0 {
		data = maps.Clone(e.versions[n-1])
	}
	return data, maps.Clone(e.meta), len(e.versions)
}

// Writes counts the requests that changed something (a data version or a
// metadata write), as Vault would see them.
func (s *Sink) Writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

// add makes data the latest version, written at t.
func (e *entry) add(data map[string]any, t time.Time) {
	e.versions = append(e.versions, data)
	e.created = append(e.created, t)
}

func (s *Sink) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

func (s *Sink) entry(path string) *entry {
	e, ok := s.secrets[path]
	if !ok {
		e = &entry{}
		s.secrets[path] = e
	}
	return e
}

func (s *Sink) before(ctx context.Context, op, path string) error {
	if err := ctx.Err(); err != nil {
		return &sinks.Error{Op: op, Path: path, Err: err, Transient: true}
	}
	if s.Hook != nil {
		return s.Hook(ctx, op, path)
	}
	return nil
}

package vault

import (
	"context"
	"path"
	"strings"

	"github.com/keysync/keysync/sinks"
)

// Bounds of a survey: paths spread over more folders than maxSurveyFolders
// are not surveyed (each create then reads first, as before), and a folder
// whose LIST answers more than maxSurveyKeys names tells nothing.
const (
	maxSurveyFolders = 64
	maxSurveyKeys    = 1 << 20
)

var _ sinks.Surveyor = (*Sink)(nil)

// Absent implements sinks.Surveyor on KV v2: one LIST of metadata/ per
// folder the paths are in (Vault lists a secret's name whether it holds
// versions or only metadata), and a path whose folder answered without
// its name holds nothing. On KV v1, where a write checks nothing, it
// finds nothing absent.
func (s *Sink) Absent(ctx context.Context, paths []string) ([]bool, error) {
	folders := map[string]map[string]bool{}
	for _, p := range paths {
		folders[path.Dir(p)] = nil
		if len(folders) > maxSurveyFolders {
			return nil, nil
		}
	}
	versioned := false
	err := s.withToken(ctx, func() error {
		if v, err := s.kvVersion(ctx); err != nil || v != 2 {
			return err
		}
		versioned = true
		for dir := range folders {
			names, err := s.listFolder(ctx, dir)
			if err != nil {
				return err
			}
			folders[dir] = names
		}
		return nil
	})
	if err != nil || !versioned {
		return nil, err
	}
	out := make([]bool, len(paths))
	for i, p := range paths {
		names := folders[path.Dir(p)]
		out[i] = names != nil && !names[path.Base(p)]
	}
	return out, nil
}

// listFolder returns the names a LIST of the folder's metadata answers,
// an empty set for a folder that does not exist, or nil when the answer is
// too large to tell anything.
func (s *Sink) listFolder(ctx context.Context, dir string) (map[string]bool, error) {
	p := s.mount + "/metadata/"
	if dir != "." {
		p += dir
	}
	sec, err := s.client.Logical().ListWithContext(ctx, p)
	if err != nil {
		return nil, classify("list", dir, err)
	}
	names := map[string]bool{}
	if sec == nil || sec.Data == nil {
		return names, nil
	}
	keys, _ := sec.Data["keys"].([]any)
	if len(keys) > maxSurveyKeys {
		return nil, nil
	}
	for _, k := range keys {
		if name, ok := k.(string); ok && !strings.HasSuffix(name, "/") {
			names[name] = true
		}
	}
	return names, nil
}

package account

import (
	"fmt"
	"slices"
	"strings"

	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/derive/spec"
)

// DerivedPath is the Vault path the job writes s to: "" for the job's own
// path, else s.Path, which for a [[discover]] block's value is a path
// template rendered for the job's account exactly as the block's own
// (sources.ExpandPath: each variable one path segment). A listed
// account's path holds no variable and is taken as it is.
func (j Job) DerivedPath(s spec.Spec) (string, error) {
	if !strings.ContainsRune(s.Path, '{') {
		return s.Path, nil
	}
	p, err := sources.ExpandPath(s.Path, j.Account)
	if err != nil {
		return "", fmt.Errorf("derived value %s: %w", s.Name, err)
	}
	return p, nil
}

// DerivedPaths are the paths of the job's derived values that have their
// own, each once, sorted; nil for none.
func (j Job) DerivedPaths() ([]string, error) {
	var out []string
	err := j.eachOwn(func(_ spec.Spec, p string) {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	})
	slices.Sort(out)
	return out, err
}

// DerivedAt are the job's derived values written to path, one of
// DerivedPaths.
func (j Job) DerivedAt(path string) ([]spec.Spec, error) {
	var out []spec.Spec
	err := j.eachOwn(func(s spec.Spec, p string) {
		if p == path {
			out = append(out, s)
		}
	})
	return out, err
}

// eachOwn calls f with each derived value that has a path of its own, and
// that path.
func (j Job) eachOwn(f func(s spec.Spec, path string)) error {
	for _, s := range j.Derived {
		if s.Path == "" {
			continue
		}
		p, err := j.DerivedPath(s)
		if err != nil {
			return err
		}
		f(s, p)
	}
	return nil
}

// NeedsProperties reports whether specs, made for a, read a's
// properties: a kind made from them, or a template on a type whose
// properties keysync reads (Storage's, Redis's), which may name them.
func NeedsProperties(a sources.Account, specs []spec.Spec) bool {
	p := a.Spec().Provider
	readable := p == sources.Types["storage"].Provider || p == sources.Types["redis"].Provider
	return slices.ContainsFunc(specs, func(s spec.Spec) bool { return s.NeedsProperties() || (readable && s.Kind == spec.Template) })
}

package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/derive/spec"
)

// Derived is one [[account.derived]] entry: a connection string or SAS
// token keysync makes from the account's active key and keeps valid
// through every rotation (docs/derived.md).
type Derived struct {
	// Name is the value's field in Vault.
	Name string `toml:"name"`
	// Kind is one of spec.Kinds().
	Kind string `toml:"kind"`
	// Path, when set, is the value's own Vault path (with others of the
	// account's values that name it), so that a consumer's policy may
	// grant it without the keys; else it is a field of the account's path.
	Path          string   `toml:"path"`
	Permissions   string   `toml:"permissions"`
	ResourceTypes string   `toml:"resource_types"`
	Container     string   `toml:"container"`
	Blob          string   `toml:"blob"`
	Entity        string   `toml:"entity"`
	IPRange       string   `toml:"ip_range"`
	HTTP          bool     `toml:"http"`
	Expiry        Duration `toml:"expiry"`
	RenewBefore   float64  `toml:"renew_before"`
	// Template is a template kind's Go text/template (docs/derived.md).
	Template string `toml:"template"`
}

// Spec is the entry as package derive takes it.
func (d Derived) Spec() spec.Spec {
	return spec.Spec{Name: d.Name, Kind: d.Kind, Path: trimSlash(d.Path), Permissions: d.Permissions,
		ResourceTypes: d.ResourceTypes, Container: d.Container, Blob: d.Blob, Entity: d.Entity, IPRange: d.IPRange,
		HTTP: d.HTTP, Expiry: d.Expiry.Duration, RenewBefore: d.RenewBefore, Template: d.Template}
}

// MaxDerived bounds an account's derived values.
const MaxDerived = 16

// validateDerived checks the derived values of accounts of type typ
// (a key of sources.Types): each by package spec, names that are usable
// and clash with no key or keysync field, paths that are valid and not
// the account's own (accountPath). In a [[discover]] block (block) a
// value's path is a template like the block's own (accountPath), checked
// as that is.
func (s *Settings) validateDerived(p *Problems, key, typ, accountPath string, block bool) {
	if len(s.Derived) == 0 {
		return
	}
	if len(s.Derived) > MaxDerived {
		p.add(key+".derived", "has %d entries, more than %d", len(s.Derived), MaxDerived)
		return
	}
	if len(s.Fields) > 0 {
		p.add(key+".fields", "cannot be combined with derived values, which are made from the type's own key fields")
	}
	t := sources.Types[typ]
	seen := map[string]int{}
	for i, d := range s.Derived {
		dk := fmt.Sprintf("%s.derived[%d]", key, i)
		for _, pr := range spec.Check(d.Spec(), typ) {
			p.add(dk+"."+pr.Field, "%s", pr.Msg)
		}
		if msg := derivedNameProblem(d.Name, t); msg != "" {
			p.add(dk+".name", "%s", msg)
		}
		where := strings.ToLower(trimSlash(d.Path)) + "\x00" + d.Name
		if j, dup := seen[where]; dup {
			p.add(dk+".name", "same field at the same path as derived[%d]: %q", j, d.Name)
		}
		seen[where] = i
		if d.Path != "" && checkDerivedPath(p, dk+".path", d.Path, block) && trimSlash(d.Path) == trimSlash(accountPath) {
			p.add(dk+".path", "is the account's own path; leave it empty to write the value there")
		}
	}
}

// checkDerivedPath checks a derived value's own path: in a block a
// template, as the block's path is checked; else a Vault path. It reports
// whether the path is valid.
func checkDerivedPath(p *Problems, key, path string, block bool) bool {
	if block {
		return checkPathTemplate(p, key, path)
	}
	return checkVaultPath(p, key, path)
}

// derivedNameProblem says what is wrong with a derived value's field
// name, "" when nothing.
func derivedNameProblem(name string, t sources.Type) string {
	switch {
	case !sources.ValidFieldName(name):
		return fmt.Sprintf("must be 1-64 letters, digits, '_', '.' or '-', got %q", name)
	case strings.HasPrefix(name, "active"), strings.HasPrefix(name, "keysync-"),
		slices.Contains(t.KnownFields(), name), t.KeysArray && slices.Contains(slices.Collect(maps.Keys(t.Rotation.Names)), name):
		return fmt.Sprintf("%q is a key's or keysync's own field", name)
	}
	return ""
}

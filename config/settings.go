package config

import (
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/plan"
)

// Settings are the per-account settings an [[account]] has and a
// [[discover]] block gives each account it finds. Both embed them without
// a name, so that the decoder reads their keys as the table's own (TOML
// keys are the same in both blocks).
type Settings struct {
	// Schedule is the account's own; the file's schedule when empty.
	Schedule string `toml:"schedule"`
	// Adopt lets keysync take over a secret it did not write.
	Adopt bool `toml:"adopt"`
	// Rule is the authorization rule, for eventhubs and servicebus.
	Rule string `toml:"rule"`
	// APIVersion overrides the type's pinned api-version.
	APIVersion string `toml:"api_version"`
	// Fields, when set, selects and renames: response field -> Vault field.
	Fields map[string]string `toml:"fields"`
	// RotateEvery, when set, regenerates the inactive key every period;
	// RotateGrace is the least time between the active field moving away
	// from a key and that key's regeneration.
	RotateEvery Duration `toml:"rotate_every"`
	RotateGrace Duration `toml:"rotate_grace"`
	// RotateKeys names the type's key pairs that rotate (sources.KeyPair);
	// empty means every pair.
	RotateKeys []string `toml:"rotate_keys"`
	// Derived are the connection strings and SAS tokens made from the
	// account's active key ([[account.derived]], [[discover.derived]];
	// derived.go, docs/derived.md).
	Derived []Derived `toml:"derived"`
}

// validate checks the settings for accounts of type typ (a key of
// sources.Types), under key; scope says which accounts a rule names
// ("" for one account).
func (s *Settings) validate(p *Problems, key, typ, scope string) {
	t := sources.Types[typ]
	switch {
	case t.Child != "" && !sources.ValidRule(s.Rule):
		p.add(key+".rule", "names the %s authorization rule%s (1-50 letters, digits, '.', '_', '-'), got %q", typ, scope, s.Rule)
	case t.Child == "" && s.Rule != "":
		p.add(key+".rule", "does not apply to type %s", typ)
	}
	if s.APIVersion != "" && !apiVersionRE.MatchString(s.APIVersion) {
		p.add(key+".api_version", "must look like %s, got %q", apiVersionExample, s.APIVersion)
	}
	s.validateFields(p, key, t)
	s.validateRotation(p, key, typ)
}

func (s *Settings) validateRotation(p *Problems, key, typ string) {
	switch {
	case s.RotateEvery.Duration == 0 && (s.RotateGrace.Duration != 0 || len(s.RotateKeys) > 0):
		p.add(key+".rotate_every", "is needed by rotate_grace and rotate_keys")
	case s.RotateEvery.Duration == 0:
	case s.RotateEvery.Duration < time.Second || s.RotateGrace.Duration < 0:
		p.add(key+".rotate_every", "must be at least 1s, and rotate_grace not negative")
	case len(s.Fields) > 0:
		p.add(key+".fields", "cannot be combined with rotate_every: consumers need both keys of each pair and the active field")
	}
	t := sources.Types[typ]
	for i, name := range s.RotateKeys {
		switch _, ok := t.Pair(name); {
		case !ok:
			p.add(key+".rotate_keys", "%q is not a key pair of type %s (%s)", name, typ, strings.Join(t.PairNames(), ", "))
		case slices.Index(s.RotateKeys, name) != i:
			p.add(key+".rotate_keys", "names %q twice", name)
		}
	}
}

// validateFields checks the fields table: known response fields (when the
// type's are fixed), usable Vault names, no two onto one.
func (s *Settings) validateFields(p *Problems, key string, t sources.Type) {
	seen := map[string]string{}
	for _, from := range slices.Sorted(maps.Keys(s.Fields)) {
		to := s.Fields[from]
		if known := t.KnownFields(); known != nil && !slices.Contains(known, from) {
			p.add(key+".fields."+from, "is not a field of the %s response (%s)", t.Provider, strings.Join(known, ", "))
		}
		if !sources.ValidFieldName(to) {
			p.add(key+".fields."+from, "Vault field name must be 1-64 letters, digits, '_', '.', '-', got %q", to)
		}
		if to == plan.FieldOwner || to == plan.FieldGoneAt {
			p.add(key+".fields."+from, "%q is keysync's own field (a mark it writes in secrets): choose another name", to)
		}
		if other, dup := seen[to]; dup {
			p.add(key+".fields."+from, "writes the same Vault field %q as fields.%s", to, other)
		}
		seen[to] = from
	}
}

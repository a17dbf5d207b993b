package sources

import "slices"

// KeyRotation is how a type's keys are regenerated, from Azure's REST API
// specs (each type's entry in Types cites its file).
type KeyRotation struct {
	// InPath: the regenerate action names the key in the path segment
	// after Type.Regenerate (Search); otherwise the JSON body's BodyKey
	// field does.
	InPath  bool
	BodyKey string
	// Names maps each key field of the answer to the name the regenerate
	// action takes for it, in the service's own spelling and case.
	Names map[string]string
	// Renews maps a key field to the other answer fields that change with
	// it: the connection strings built on it.
	Renews map[string][]string
	// Async: the action is long-running. Azure answers 202 with
	// Azure-AsyncOperation and Location (or 200 without a body); keysync
	// polls the operation and then reads the keys with Type.Action.
	// Otherwise the action answers 200 with the keys, as Action does.
	Async bool
	// Pairs are the two-key pairs that rotate, in order; rotate_keys
	// picks them by name, and by default every pair rotates.
	Pairs []KeyPair
}

// KeyPair is two keys of equal power: while consumers use one, the other
// is regenerated.
type KeyPair struct {
	// Name is the pair's name in rotate_keys.
	Name string
	// Keys are the two key fields, the one active at the first sync first.
	Keys [2]string
}

// Pair returns the type's pair called name.
func (t Type) Pair(name string) (KeyPair, bool) {
	for _, p := range t.Rotation.Pairs {
		if p.Name == name {
			return p, true
		}
	}
	return KeyPair{}, false
}

// PairNames lists the names of the type's pairs, in order.
func (t Type) PairNames() []string {
	names := make([]string, 0, len(t.Rotation.Pairs))
	for _, p := range t.Rotation.Pairs {
		names = append(names, p.Name)
	}
	return names
}

// Renewed lists the answer fields a regeneration of key changes: the key
// and the connection strings built on it.
func (t Type) Renewed(key string) []string {
	return append([]string{key}, t.Rotation.Renews[key]...)
}

// RegenerateName is the name the type's regenerate action takes for the
// key field key, and whether the action can regenerate it.
func (t Type) RegenerateName(key string) (string, bool) {
	n, ok := t.Rotation.Names[key]
	return n, ok && slices.ContainsFunc(t.Rotation.Pairs, func(p KeyPair) bool { return slices.Contains(p.Keys[:], key) })
}

// onePair is the one pair of a type whose keys are a and b.
func onePair(a, b string) []KeyPair { return []KeyPair{{Name: DefaultPair, Keys: [2]string{a, b}}} }

// DefaultPair names the pair of a type that has one.
const DefaultPair = "keys"

// Rotation tables used by several types.
var (
	primarySecondaryPair = onePair("primaryKey", "secondaryKey")
	connStrings          = map[string][]string{"primaryKey": {"primaryConnectionString"}, "secondaryKey": {"secondaryConnectionString"}}
)

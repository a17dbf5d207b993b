package armemu

import (
	"fmt"
	"net/url"
	"strings"
)

// Resource names one emulated resource: its type (a key of Types; ""
// means DefaultType), where it lives, and for types with a Child the
// authorization rule that holds the keys.
type Resource struct {
	Type          string
	Subscription  string
	ResourceGroup string
	Name          string
	Rule          string
}

// typeName is the resource's key in Types.
func (r Resource) typeName() string {
	if r.Type == "" {
		return DefaultType
	}
	return strings.ToLower(r.Type)
}

// kind is the resource's entry in Types.
func (r Resource) kind() (Type, error) {
	t, ok := Types[r.typeName()]
	if !ok {
		return Type{}, fmt.Errorf("armemu serves no resource type %q", r.Type)
	}
	return t, nil
}

// ID is the resource's ARM id, each segment escaped: the resource, or its
// authorization rule for types with a Child when Rule is set.
func (r Resource) ID() string {
	t := Types[r.typeName()]
	id := fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/%s/%s",
		url.PathEscape(r.Subscription), url.PathEscape(r.ResourceGroup), t.Provider, url.PathEscape(r.Name))
	if t.Child != "" && r.Rule != "" {
		id += "/" + t.Child + "/" + url.PathEscape(r.Rule)
	}
	return id
}

// key is the resource's identity: its id in lower case, as ARM compares
// ids.
func (r Resource) key() string { return strings.ToLower(r.ID()) }

// armPath is a parsed action path: the resource and the action's one or
// two segments.
type armPath struct {
	res    Resource
	action []string
}

// parseARMPath reads /subscriptions/{s}/resourceGroups/{rg}/providers/
// {namespace}/{type}/{name}[/{child}/{rule}]/{action}[/{arg}] for the types
// the emulator serves. ARM matches the literal segments case-insensitively,
// and so does this.
func parseARMPath(p string) (armPath, bool) {
	seg := strings.Split(strings.Trim(p, "/"), "/")
	if len(seg) < 9 || !strings.EqualFold(seg[0], "subscriptions") ||
		!strings.EqualFold(seg[2], "resourceGroups") || !strings.EqualFold(seg[4], "providers") {
		return armPath{}, false
	}
	name, t, ok := typeByProvider(seg[5] + "/" + seg[6])
	if !ok {
		return armPath{}, false
	}
	r := Resource{Type: name, Subscription: seg[1], ResourceGroup: seg[3], Name: seg[7]}
	rest := seg[8:]
	if t.Child != "" {
		if len(rest) < 3 || !strings.EqualFold(rest[0], t.Child) {
			return armPath{}, false
		}
		r.Rule, rest = rest[1], rest[2:]
	}
	if len(rest) > 2 {
		return armPath{}, false
	}
	return armPath{res: r, action: rest}, true
}

// Operations a path can name.
const (
	opList       = "list"
	opRegenerate = "regenerate"
)

// operation is what action names for type t: opList, opRegenerate with the
// key named in the path (Search), or "" for an action the type lacks.
func (t Type) operation(action []string) (op, pathKey string) {
	rg := t.Regenerate
	switch {
	case len(action) == 1 && strings.EqualFold(action[0], t.ListAction):
		return opList, ""
	case rg.InPath && len(action) == 2 && strings.EqualFold(action[0], rg.Action):
		return opRegenerate, action[1]
	case !rg.InPath && len(action) == 1 && strings.EqualFold(action[0], rg.Action):
		return opRegenerate, ""
	}
	return "", ""
}

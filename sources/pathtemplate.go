package sources

import (
	"fmt"
	"regexp"
	"strings"
)

// PathVariables are the names a discovery's path template may use, each
// taken from the resource found:
//
//	{type}            the type's name in Types ("batch", "storage", ...)
//	{subscription}    the subscription id, lower-case
//	{resource_group}  the resource group, as in the resource id
//	{name}            the resource's name
//	{rule}            the authorization rule (eventhubs, servicebus)
var PathVariables = []string{"type", "subscription", "resource_group", "name", "rule"}

var placeholderRE = regexp.MustCompile(`\{[^{}]*\}`)

// CheckPathTemplate reports what is wrong with a path template: unknown or
// unclosed variables, or none that tells resources apart ({name}).
func CheckPathTemplate(tmpl string) error {
	for _, m := range placeholderRE.FindAllString(tmpl, -1) {
		if !isVariable(m[1 : len(m)-1]) {
			return fmt.Errorf("unknown variable %s (known: {%s})", clip(m), strings.Join(PathVariables, "}, {"))
		}
	}
	if rest := placeholderRE.ReplaceAllString(tmpl, ""); strings.ContainsAny(rest, "{}") {
		return fmt.Errorf("unbalanced brace in %q", clip(tmpl))
	}
	if !strings.Contains(tmpl, "{name}") {
		return fmt.Errorf("must contain {name}, or every resource would share one path")
	}
	return nil
}

// ExpandPath fills a checked template with a's values. A value that
// would be more or less than one path segment ('/' in it, or "." or "..")
// is refused: a resource group or name read from an answer must never
// move a secret to another level of Vault.
func ExpandPath(tmpl string, a Account) (string, error) {
	var bad string
	out := placeholderRE.ReplaceAllStringFunc(tmpl, func(m string) string {
		v := pathValue(m, a)
		if strings.Contains(v, "/") || v == "." || v == ".." {
			bad = m
		}
		return v
	})
	if bad != "" {
		return "", fmt.Errorf("%s of %q is not one path segment", bad, clip(a.ResourceID()))
	}
	return out, nil
}

// pathValue is a's value of the variable m ("{name}"), or m itself for
// one CheckPathTemplate refuses.
func pathValue(m string, a Account) string {
	switch m {
	case "{type}":
		t := strings.ToLower(a.Type)
		if t == "" {
			t = DefaultType
		}
		return t
	case "{subscription}":
		return strings.ToLower(a.SubscriptionID)
	case "{resource_group}":
		return a.ResourceGroup
	case "{name}":
		return a.Name
	case "{rule}":
		return a.Rule
	}
	return m
}

func isVariable(name string) bool {
	for _, v := range PathVariables {
		if v == name {
			return true
		}
	}
	return false
}

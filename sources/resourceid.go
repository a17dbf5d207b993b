package sources

import (
	"fmt"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxResourceID bounds a resource id read from an answer: ARM's own ids are
// far shorter (a name is at most a few hundred characters).
const maxResourceID = 1024

// ParseResourceID reads an ARM resource id of one of the Types,
// /subscriptions/{s}/resourceGroups/{rg}/providers/{namespace}/{type}/{name},
// as Resource Graph and ARM's list APIs return it. The literal segments and
// the provider compare without case, as ARM's do; the values keep theirs.
// The account's Type is the entry's name, and each value is checked against
// the type's naming rules and the resource group against ARM's
// (ValidResourceGroup), since the answer is not trusted: an escaped '/' in
// a segment, say, would put a secret one level deeper in Vault.
func ParseResourceID(id string) (Account, error) {
	if len(id) > maxResourceID {
		return Account{}, fmt.Errorf("resource id longer than %d bytes", maxResourceID)
	}
	seg := strings.Split(strings.TrimPrefix(id, "/"), "/")
	if (len(seg) != 8 && len(seg) != 10) || !strings.EqualFold(seg[0], "subscriptions") || !strings.EqualFold(seg[2], "resourceGroups") || !strings.EqualFold(seg[4], "providers") {
		return Account{}, fmt.Errorf("%q is not a resource id of the form /subscriptions/{id}/resourceGroups/{group}/providers/{namespace}/{type}/{name}", clip(id))
	}
	provider := seg[5] + "/" + seg[6]
	name, ok := typeByProvider(provider)
	if !ok {
		return Account{}, fmt.Errorf("resource type %q is not one keysync reads", clip(provider))
	}
	// An authorization rule's id: .../{namespace}/{child}/{rule}.
	rule := ""
	if len(seg) == 10 {
		child := Types[name].Child
		r, err := url.PathUnescape(seg[9])
		if child == "" || !strings.EqualFold(seg[8], child) || err != nil || !ValidRule(r) {
			return Account{}, fmt.Errorf("%q is not a resource id keysync reads", clip(id))
		}
		rule = r
	}
	vals := make([]string, 3)
	for i, s := range []string{seg[1], seg[3], seg[7]} {
		v, err := url.PathUnescape(s)
		if err != nil || v == "" {
			return Account{}, fmt.Errorf("resource id %q has an empty or badly escaped segment", clip(id))
		}
		vals[i] = v
	}
	a := Account{SubscriptionID: vals[0], ResourceGroup: vals[1], Name: vals[2], Type: name, Rule: rule}
	if !guidRE.MatchString(a.SubscriptionID) {
		return Account{}, fmt.Errorf("resource id %q: subscription is not a GUID", clip(id))
	}
	if !ValidResourceGroup(a.ResourceGroup) {
		return Account{}, fmt.Errorf("resource id %q: %q is not a valid resource group name", clip(id), clip(a.ResourceGroup))
	}
	if t := Types[name]; !t.ValidName(a.Name) {
		return Account{}, fmt.Errorf("resource id %q: %q is not a valid %s name", clip(id), clip(a.Name), name)
	}
	return a, nil
}

// typeByProvider finds the entry of Types for an ARM resource type.
func typeByProvider(provider string) (string, bool) {
	for name, t := range Types {
		if strings.EqualFold(t.Provider, provider) {
			return name, true
		}
	}
	return "", false
}

// ValidResourceGroup reports whether rg is a name ARM gives a resource
// group: 1 to 90 characters, each a letter or a decimal digit (Unicode's
// L and Nd categories) or one of '_', '-', '.', '(', ')', not ending in
// '.' (learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules,
// Microsoft.Resources, resourcegroups).
func ValidResourceGroup(rg string) bool {
	if n := utf8.RuneCountInString(rg); n < 1 || n > 90 || !utf8.ValidString(rg) || strings.HasSuffix(rg, ".") {
		return false
	}
	for _, r := range rg {
		if !unicode.IsLetter(r) && !unicode.Is(unicode.Nd, r) && !strings.ContainsRune("_-.()", r) {
			return false
		}
	}
	return true
}

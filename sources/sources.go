// Package sources defines what every key source shares: the account a source
// reads, and the classified error it returns. Real sources live in
// sub-packages (sources/azure).
package sources

import (
	"fmt"
	"net/url"
	"strings"
)

// Account identifies one Azure resource whose keys keysync reads.
type Account struct {
	SubscriptionID string
	ResourceGroup  string
	Name           string
	// Type is a key of Types; "" means DefaultType (batch).
	Type string
	// Rule names the authorization rule, for types with a Child.
	Rule string
	// APIVersion overrides the type's pinned api-version.
	APIVersion string
}

// Kind is the account's entry in Types.
func (a Account) Kind() Type { return typeOf(a.Type) }

// ResourceID returns the account's ARM resource id, with each segment
// escaped: the resource, or its authorization rule for types that have one.
func (a Account) ResourceID() string {
	t := a.Kind()
	id := fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/%s/%s",
		url.PathEscape(a.SubscriptionID), url.PathEscape(a.ResourceGroup), t.Provider, url.PathEscape(a.Name))
	if t.Child != "" {
		id += "/" + t.Child + "/" + url.PathEscape(a.Rule)
	}
	return id
}

// Key returns a case-insensitive identity for the account, as ARM treats
// resource ids: two accounts with the same Key are the same resource.
func (a Account) Key() string { return strings.ToLower(a.ResourceID()) }

// String implements fmt.Stringer.
func (a Account) String() string { return a.ResourceID() }

// Package sources is the contract of a key source: the Source and Rotator
// interfaces, the Account they read (an ARM resource of one of the Types),
// and the classified Error they return. The Azure Resource Manager source
// lives in sources/azure; an in-memory one for fast tests in
// sources/memsource.
package sources

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/keysync/keysync/secret"
)

// Source reads the keys of one account: the fields of its keys action's
// answer, by the answer's own names.
type Source interface {
	Fetch(ctx context.Context, a Account) (secret.Fields, error)
}

// Rotator is a Source that can also regenerate one of an account's keys
// and return the keys after.
type Rotator interface {
	Source
	Regenerate(ctx context.Context, a Account, key string) (secret.Fields, error)
}

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

// Spec is the entry of Types that the account's Type names.
func (a Account) Spec() Type { return typeOf(a.Type) }

// ResourceID returns the account's ARM resource id, with each segment
// escaped: the resource, or its authorization rule for types that have one.
func (a Account) ResourceID() string {
	t := a.Spec()
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

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
}

// ResourceID returns the account's ARM resource id, with each segment escaped.
func (a Account) ResourceID() string {
	return fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Batch/batchAccounts/%s",
		url.PathEscape(a.SubscriptionID), url.PathEscape(a.ResourceGroup), url.PathEscape(a.Name))
}

// Key returns a case-insensitive identity for the account, as ARM treats
// resource ids: two accounts with the same Key are the same resource.
func (a Account) Key() string { return strings.ToLower(a.ResourceID()) }

// String implements fmt.Stringer.
func (a Account) String() string { return a.ResourceID() }

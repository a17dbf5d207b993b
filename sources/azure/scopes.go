package azure

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/keysync/keysync/internal/oneline"
	"github.com/keysync/keysync/sources"
)

// Listing subscriptions, from
// specification/resources/resource-manager/Microsoft.Resources/subscriptions/stable/2022-12-01/subscriptions.json
// (Subscriptions_List, paged by nextLink).
const subscriptionsAPIVersion = "2022-12-01"

// Listing a management group's subscriptions, from
// specification/managementgroups/resource-manager/Microsoft.Management/ManagementGroups/stable/2023-04-01/management.json
// (ManagementGroups_GetDescendants: GET
// /providers/Microsoft.Management/managementGroups/{groupId}/descendants,
// paged by nextLink; a subscription is {id: "/subscriptions/{id}", type:
// "Microsoft.Management/managementGroups/subscriptions"},
// examples/GetDescendants.json). The identity needs
// Microsoft.Management/managementGroups/descendants/read on the group,
// which Reader assigned there includes (Reader is */read:
// learn.microsoft.com/azure/role-based-access-control/built-in-roles/general).
const (
	descendantsAPIVersion = "2023-04-01"
	descendantSubType     = "Microsoft.Management/managementGroups/subscriptions"
)

// listPage is a page of an ARM list: {value, nextLink}.
type listPage[T any] struct {
	Value    []T    `json:"value"`
	NextLink string `json:"nextLink"`
}

// list follows an ARM list from prefix on ARM's endpoint (version is the
// first page's api-version; a nextLink carries its own) through its
// nextLinks, which must stay under prefix, handing each entry to each.
func list[T any](ctx context.Context, d *discovery, prefix, version string, each func(T) error) error {
	next := d.s.client.Endpoint() + prefix
	for next != "" {
		if err := d.page(); err != nil {
			return &sources.Error{Err: err, Code: "TooManyResults"}
		}
		var page listPage[T]
		if err := d.s.discoveryCall(ctx, http.MethodGet, next, version, nil, &page); err != nil {
			return err
		}
		for _, v := range page.Value {
			if err := each(v); err != nil {
				return err
			}
		}
		var err error
		if next, err = d.s.nextLink(page.NextLink, prefix); err != nil {
			return err
		}
		version = ""
	}
	return nil
}

// subscriptions are the selector's, or every subscription the identity
// sees that can act (Enabled, Warned or PastDue; a Disabled one is
// read-only and a Deleted one is gone).
func (d *discovery) subscriptions(ctx context.Context) ([]string, error) {
	if len(d.sel.Subscriptions) > 0 {
		return d.sel.Subscriptions, nil
	}
	type subscription struct {
		SubscriptionID string `json:"subscriptionId"`
		State          string `json:"state"`
	}
	var out []string
	err := list(ctx, d, "/subscriptions", subscriptionsAPIVersion, func(v subscription) error {
		switch v.State {
		case "Enabled", "Warned", "PastDue":
			out = append(out, v.SubscriptionID)
		}
		return tooManySubscriptions(len(out))
	})
	return out, err
}

// descendants lists the subscriptions under the selector's management
// group, at every depth, each once. An entry that names a subscription
// but no subscription id fails the listing: the list would not be the
// group's.
func (d *discovery) descendants(ctx context.Context) ([]string, error) {
	type descendant struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	}
	seen := map[string]bool{}
	var out []string
	prefix := "/providers/Microsoft.Management/managementGroups/" + url.PathEscape(d.sel.ManagementGroup) + "/descendants"
	err := list(ctx, d, prefix, descendantsAPIVersion, func(v descendant) error {
		if !strings.EqualFold(v.Type, descendantSubType) {
			return nil // a group below: its subscriptions are listed too
		}
		sub, ok := cutPrefixFold(v.ID, "/subscriptions/")
		if !ok || !sources.ValidSubscriptionID(sub) {
			return &sources.Error{StatusCode: http.StatusOK, Code: "MalformedAnswer",
				Err: fmt.Errorf("descendant %q is not a subscription id", clipRunes(oneline.Clean(v.ID), 64))}
		}
		if k := strings.ToLower(sub); !seen[k] {
			seen[k] = true
			out = append(out, sub)
		}
		return tooManySubscriptions(len(out))
	})
	return out, err
}

// tooManySubscriptions bounds a listing of subscriptions.
func tooManySubscriptions(n int) error {
	if n > maxSubscriptions {
		return &sources.Error{Err: fmt.Errorf("more than %d subscriptions", maxSubscriptions), Code: "TooManyResults"}
	}
	return nil
}

// cutPrefixFold is strings.CutPrefix without regard to ASCII case.
func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return s, false
	}
	return s[len(prefix):], true
}

// partial records that an answer covered only part of the block's scope
// (scope names which), and why: the block removes nothing this run
// (sources.Skipped.Partial). Each scope is recorded once.
func (d *discovery) partial(scope, why string) {
	if d.seen == nil {
		d.seen = map[string]bool{}
	}
	k := "partial|" + scope
	if !d.seen[k] {
		d.seen[k] = true
		d.skipped = append(d.skipped, sources.Skipped{Row: oneline.Clean(scope), Reason: oneline.Clean(why), Partial: true})
	}
}

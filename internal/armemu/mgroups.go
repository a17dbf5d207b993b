package armemu

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
)

// The management groups API's descendants operation, from
// specification/managementgroups/resource-manager/Microsoft.Management/ManagementGroups/stable/2023-04-01/management.json
// (ManagementGroups_GetDescendants): GET
// /providers/Microsoft.Management/managementGroups/{groupId}/descendants,
// x-ms-pageable by nextLink ($skiptoken, $top), answering
// DescendantInfoListResult {value, nextLink}. A subscription is
// {id: "/subscriptions/{id}", type:
// "Microsoft.Management/managementGroups/subscriptions", name, properties:
// {displayName, parent: {id}}} (examples/GetDescendants.json). Reading it
// takes Microsoft.Management/managementGroups/descendants/read on the group
// ("Gets all the descendants (Management Groups, Subscriptions) of a
// Management Group", learn.microsoft.com/azure/role-based-access-control/resource-provider-operations);
// an identity without it is refused with InjectDescendantsFaultFor.
// Groups do not nest in the emulator: a group's descendants are its
// subscriptions.
const (
	descendantsAPIVersion = "2023-04-01"
	mgPrefix              = "/providers/Microsoft.Management/managementGroups/"
	descendantsFaultKey   = "descendants|"
)

// descendant is one DescendantInfo.
type descendant struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	Name       string `json:"name"`
	Properties struct {
		DisplayName string `json:"displayName"`
		Parent      struct {
			ID string `json:"id"`
		} `json:"parent"`
	} `json:"properties"`
}

// handleProviders routes the tenant-level provider paths: management
// groups' descendants, else Resource Graph.
func (e *Emulator) handleProviders(w http.ResponseWriter, r *http.Request) {
	if group, ok := descendantsPath(r.URL.Path); ok {
		e.handleDescendants(w, r, group)
		return
	}
	e.handleGraph(w, r)
}

// descendantsPath reads /providers/Microsoft.Management/managementGroups/{id}/descendants.
func descendantsPath(p string) (string, bool) {
	if len(p) < len(mgPrefix) || !strings.EqualFold(p[:len(mgPrefix)], mgPrefix) {
		return "", false
	}
	group, rest, ok := strings.Cut(p[len(mgPrefix):], "/")
	return group, ok && group != "" && strings.EqualFold(rest, "descendants")
}

// handleDescendants is ManagementGroups_GetDescendants.
func (e *Emulator) handleDescendants(w http.ResponseWriter, r *http.Request, group string) {
	e.begin(w, r)
	if r.Method != http.MethodGet {
		cloudError(w, http.StatusMethodNotAllowed, "HttpMethodNotAllowed", fmt.Sprintf("The requested resource does not support http method '%s'.", r.Method))
		return
	}
	if !e.checkAPIVersion(w, r, []string{descendantsAPIVersion}) || !e.checkToken(w, r) ||
		e.discoveryFault(w, r, descendantsFaultKey) || e.discoveryFault(w, r, descendantsFaultKey+e.caller(r)) {
		return
	}
	e.mu.Lock()
	subs, ok := e.disc.groups[strings.ToLower(group)]
	subs = slices.Sorted(slices.Values(subs))
	out := make([]descendant, 0, len(subs))
	for _, s := range subs {
		d := descendant{ID: "/subscriptions/" + e.disc.subOrder[s], Type: "Microsoft.Management/managementGroups/subscriptions", Name: e.disc.subOrder[s]}
		d.Properties.DisplayName = "Emulated subscription " + d.Name
		d.Properties.Parent.ID = mgPrefix + group
		out = append(out, d)
	}
	e.mu.Unlock()
	if !ok {
		// The emulator's choice: the spec names no code for a group that
		// does not exist.
		cloudError(w, http.StatusNotFound, "NotFound", "Management group '"+group+"' was not found.")
		return
	}
	writeListPage(e, w, r, out)
}

// InjectDescendantsFaultFor queues f for the next descendants requests of
// the managed identity clientID ("" for the system-assigned one) alone:
// an identity without Microsoft.Management/managementGroups/descendants/read
// is answered 403 AuthorizationFailed.
func (e *Emulator) InjectDescendantsFaultFor(clientID string, f Fault) {
	e.injectKey(descendantsFaultKey+clientKey(clientID), f)
}

// Resource Graph answers a tenant or management group query for at most
// the first 10,000 subscriptions the caller can read there, and says so:
// "When a security principal has access to more than 10,000 subscriptions
// within the tenant or management group query scope, the response is
// limited to the first 10,000 subscriptions and the
// x-ms-tenant-subscription-limit-hit header is returned as true"
// (learn.microsoft.com/azure/governance/resource-graph/concepts/guidance-for-throttled-requests).
// QueryRequestOptions.allowPartialScopes ("whether to allow partial
// scopes for result in case the number of subscriptions exceed allowed
// limits", resourcegraph.json 2024-04-01) is recorded, but the docs do not
// say what false changes at the cap, so the emulator answers as
// documented either way.
const (
	defaultSubscriptionLimit = 10_000
	limitHitHeader           = "x-ms-tenant-subscription-limit-hit"
)

// SetGraphSubscriptionLimitFor sets the subscriptions a tenant or
// management group query of the managed identity clientID answers for (0
// restores 10,000), so that a test can cap its own identity's scopes.
func (e *Emulator) SetGraphSubscriptionLimitFor(clientID string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.disc.subLimits == nil {
		e.disc.subLimits = map[string]int{}
	}
	e.disc.subLimits[clientKey(clientID)] = n
}

// capScope keeps the first subscriptions of a tenant or management group
// scope, by id, up to the caller's limit, and says whether it cut any.
func (e *Emulator) capScope(scope map[string]bool, caller string) (map[string]bool, bool) {
	e.mu.Lock()
	limit := e.disc.subLimits[caller]
	e.mu.Unlock()
	if limit <= 0 {
		limit = defaultSubscriptionLimit
	}
	if len(scope) <= limit {
		return scope, false
	}
	kept := make(map[string]bool, limit)
	for _, s := range slices.Sorted(maps.Keys(scope))[:limit] {
		kept[s] = true
	}
	return kept, true
}

package azure

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/keysync/keysync/config"
	"github.com/keysync/keysync/sources"
)

// Resource Graph's query API, from
// specification/resourcegraph/resource-manager/Microsoft.ResourceGraph/ResourceGraph/stable/2024-04-01/resourcegraph.json
// (QueryRequest, QueryResponse; options.$top is 1 to 1000). Subscriptions
// are sent in groups: Microsoft's guidance for throttled requests advises
// groups of fewer than 300
// (learn.microsoft.com/azure/governance/resource-graph/concepts/guidance-for-throttled-requests),
// and one answer is at most 16 MB
// (learn.microsoft.com/azure/governance/resource-graph/concepts/paging-results).
const (
	graphAPIVersion = "2024-04-01"
	graphPath       = "/providers/Microsoft.ResourceGraph/resources"
	graphPageRows   = 1000
	graphGroup      = 250
	pageBodyLimit   = 16 << 20
)

// Bounds of one discovery: pages followed (at least maxPages, and twice
// the pages of the resources the selector may find), subscriptions
// listed, and the wait keysync accepts for Resource Graph's quota; the
// resources kept are the selector's Max.
const (
	maxPages         = 2000
	maxSubscriptions = 100_000
	maxQuotaWait     = time.Minute
)

// Discover finds the resources sel names, with Resource Graph or, where
// that is not allowed, ARM's list APIs (engine "arm-list"). Both go
// through the same pipeline and credential as the keys. A row that names
// no resource keysync can use is skipped (rows.go) and returned with the
// reason; the others are found. A failure is a *sources.Error, and
// nothing found is half a result: the caller keeps what it had.
func (s *Source) Discover(ctx context.Context, sel sources.Selector, engine string) ([]sources.Found, []sources.Skipped, error) {
	if err := sel.Validate(); err != nil {
		return nil, nil, &sources.Error{Err: err, Code: "InvalidSelector"}
	}
	d := &discovery{s: s, sel: sel}
	var err error
	switch engine {
	case "", config.DiscoveryResourceGraph:
		err = d.graph(ctx)
	case config.DiscoveryARMList:
		err = d.armList(ctx)
	default:
		err = &sources.Error{Err: fmt.Errorf("unknown discovery engine %q", engine), Code: "InvalidSelector"}
	}
	if err != nil {
		return nil, nil, err
	}
	return d.found, d.skipped, nil
}

// discovery is one Discover call's state. scope holds the subscriptions
// (lower-case) the request being read was sent for; nil when keysync does
// not know them (a management group's).
type discovery struct {
	s       *Source
	sel     sources.Selector
	found   []sources.Found
	skipped []sources.Skipped
	seen    map[string]bool
	scope   map[string]bool
	pages   int
}

// maxFound is how many resources the discovery may find.
func (d *discovery) maxFound() int { return cmp.Or(d.sel.Max, sources.DefaultMaxFound) }

// maxPages is how many pages it may follow.
func (d *discovery) maxPages() int { return max(maxPages, 2*d.maxFound()/graphPageRows) }

// page counts a page against the bound.
func (d *discovery) page() error {
	if d.pages++; d.pages > d.maxPages() {
		return fmt.Errorf("more than %d pages", d.maxPages())
	}
	return nil
}

// scoped sets the subscriptions the next requests are sent for.
func (d *discovery) scoped(subs []string) {
	d.scope = make(map[string]bool, len(subs))
	for _, s := range subs {
		d.scope[strings.ToLower(s)] = true
	}
}

// graphRequest is QueryRequest.
type graphRequest struct {
	Subscriptions    []string     `json:"subscriptions,omitempty"`
	ManagementGroups []string     `json:"managementGroups,omitempty"`
	Query            string       `json:"query"`
	Options          graphOptions `json:"options"`
}

// graphOptions is QueryRequestOptions. allowPartialScopes is "only
// applicable for tenant and management group level queries to decide
// whether to allow partial scopes for result in case the number of
// subscriptions exceed allowed limits" (resourcegraph.json 2024-04-01):
// keysync allows it for a management group, and reads the answer's
// x-ms-tenant-subscription-limit-hit to know when it was partial (what
// false does at the limit is not documented).
type graphOptions struct {
	Top                int    `json:"$top"`
	SkipToken          string `json:"$skipToken,omitempty"`
	ResultFormat       string `json:"resultFormat"`
	AllowPartialScopes bool   `json:"allowPartialScopes,omitempty"`
}

// graphResponse is QueryResponse, with the rows keysync projects, and
// whether the answer says its scope was cut (limitHit).
type graphResponse struct {
	Count           *int64     `json:"count"`
	ResultTruncated string     `json:"resultTruncated"`
	SkipToken       string     `json:"$skipToken"`
	Data            []graphRow `json:"data"`
	limitHit        bool
}

// limitHitHeader says a tenant or management group answer covers only the
// first 10,000 subscriptions of its scope: "When a security principal has
// access to more than 10,000 subscriptions within the tenant or management
// group query scope, the response is limited to the first 10,000
// subscriptions and the x-ms-tenant-subscription-limit-hit header is
// returned as true"
// (learn.microsoft.com/azure/governance/resource-graph/concepts/guidance-for-throttled-requests).
const limitHitHeader = "x-ms-tenant-subscription-limit-hit"

func (r *graphResponse) readHeaders(h http.Header) {
	r.limitHit = strings.EqualFold(strings.TrimSpace(h.Get(limitHitHeader)), "true")
}

// graph queries Resource Graph: a management group in one scope, else the
// subscriptions (named, or every one the identity sees) in groups, each
// followed page by page with $skipToken and the same query and scope, as
// the API requires.
func (d *discovery) graph(ctx context.Context) error {
	q := graphRequest{Query: query(d.sel), Options: graphOptions{Top: graphPageRows, ResultFormat: "objectArray"}}
	if d.sel.ManagementGroup != "" {
		return d.graphManagementGroup(ctx, q)
	}
	subs, err := d.subscriptions(ctx)
	if err != nil {
		return err
	}
	return d.graphSubscriptions(ctx, q, subs)
}

// graphSubscriptions queries subs in groups of graphGroup. A group's
// answer cut short counts as partial: it cannot happen to a scope of
// named subscriptions, so keysync has no better way to ask.
func (d *discovery) graphSubscriptions(ctx context.Context, q graphRequest, subs []string) error {
	for start := 0; start < len(subs); start += graphGroup {
		q.Subscriptions = subs[start:min(start+graphGroup, len(subs))]
		d.scoped(q.Subscriptions)
		cut, err := d.graphScope(ctx, q)
		if err != nil {
			return err
		}
		if cut {
			d.partial(fmt.Sprintf("(the answer for subscriptions %s and %d more)", q.Subscriptions[0], len(q.Subscriptions)-1),
				"Resource Graph answered for part of the subscriptions only ("+limitHitHeader+")")
		}
	}
	return nil
}

// graphManagementGroup queries a management group in one scope. When
// Resource Graph says it answered for the group's first subscriptions
// only, keysync lists the group's subscriptions itself (descendants) and
// queries them in groups; when it cannot, what it found is kept and the
// answer is partial: the block removes nothing.
func (d *discovery) graphManagementGroup(ctx context.Context, q graphRequest) error {
	q.ManagementGroups, q.Options.AllowPartialScopes = []string{d.sel.ManagementGroup}, true
	cut, err := d.graphScope(ctx, q)
	if err != nil || !cut {
		return err
	}
	subs, err := d.descendants(ctx)
	if err != nil && ctx.Err() == nil {
		d.partial("(the answer for management group "+d.sel.ManagementGroup+")",
			"Resource Graph answered for the group's first subscriptions only ("+limitHitHeader+"), and listing the group's subscriptions failed: "+err.Error())
		return nil
	}
	if err != nil {
		return err
	}
	q.ManagementGroups, q.Options.AllowPartialScopes = nil, false
	return d.graphSubscriptions(ctx, q, subs)
}

// graphScope reads every page of one scope's answer, and reports whether
// the answer says its scope was cut. An answer that says it is truncated
// (resultTruncated "true": paging was not possible, and "when
// resultTruncated is true, $skipToken is not set",
// learn.microsoft.com/azure/governance/resource-graph/concepts/work-with-data)
// is partial.
func (d *discovery) graphScope(ctx context.Context, q graphRequest) (cut bool, err error) {
	q.Options.SkipToken = ""
	for {
		if err := d.page(); err != nil {
			return cut, &sources.Error{Err: err, Code: "TooManyResults"}
		}
		var page graphResponse
		if err := d.s.discoveryCall(ctx, http.MethodPost, d.s.client.Endpoint()+graphPath, graphAPIVersion, q, &page); err != nil {
			return cut, err
		}
		if page.Count == nil {
			return cut, &sources.Error{StatusCode: http.StatusOK, Code: "MalformedAnswer", Err: errors.New("resource graph answer has no count")}
		}
		cut = cut || page.limitHit
		for _, row := range page.Data {
			if err := d.add(row); err != nil {
				return cut, err
			}
		}
		switch {
		case page.ResultTruncated == "true":
			d.partial("(a page of the answer)", "Resource Graph says the answer is truncated (resultTruncated)")
			return cut, nil
		case page.SkipToken == "":
			return cut, nil
		case len(page.SkipToken) > 4096:
			return cut, &sources.Error{StatusCode: http.StatusOK, Code: "MalformedAnswer", Err: errors.New("$skipToken longer than 4096 bytes")}
		}
		q.Options.SkipToken = page.SkipToken
	}
}

// armList lists the type's resources in each subscription with ARM's list
// API (GET /subscriptions/{s}/providers/{provider}), page by nextLink, and
// filters resource groups and tags itself, as that API cannot.
func (d *discovery) armList(ctx context.Context) error {
	if d.sel.ManagementGroup != "" {
		return &sources.Error{Err: errors.New("discovery = \"arm-list\" cannot search a management group: name its subscriptions"), Code: "InvalidSelector"}
	}
	subs, err := d.subscriptions(ctx)
	if err != nil {
		return err
	}
	t := sources.Types[strings.ToLower(d.sel.Type)]
	for _, sub := range subs {
		prefix := "/subscriptions/" + url.PathEscape(sub) + "/providers/" + t.Provider
		d.scoped([]string{sub})
		if err := d.armListSubscription(ctx, prefix, t.APIVersion); err != nil {
			return err
		}
	}
	return nil
}

func (d *discovery) armListSubscription(ctx context.Context, prefix, version string) error {
	return list(ctx, d, prefix, version, func(r graphRow) error {
		if !d.selects(r) {
			return nil
		}
		return d.add(r)
	})
}

// selects applies the resource group and tag conditions to a listed row,
// as Resource Graph would: a row of another resource group is none of the
// block's business, however odd. A row the conditions cannot be applied
// to (its id unreadable, or its tags naming one tag twice with different
// values) is added, and add skips it with the reason.
func (d *discovery) selects(r graphRow) bool {
	if r.bad != "" {
		return true
	}
	if !d.inGroups(r.ID) {
		return false
	}
	if _, clash := sources.FoldTags(r.Tags); clash != "" {
		return true
	}
	return d.sel.MatchTags(r.Tags)
}

// inGroups reports whether the resource id is in one of the selector's
// resource groups (any, when it names none); an id it cannot read is.
func (d *discovery) inGroups(id string) bool {
	seg := strings.SplitN(strings.TrimPrefix(id, "/"), "/", 5)
	if len(d.sel.ResourceGroups) == 0 || len(seg) < 5 {
		return true
	}
	group, err := url.PathUnescape(seg[3])
	if err != nil {
		return true
	}
	for _, rg := range d.sel.ResourceGroups {
		if strings.EqualFold(rg, group) {
			return true
		}
	}
	return false
}

package azure

import (
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

// Listing subscriptions, from
// specification/resources/resource-manager/Microsoft.Resources/subscriptions/stable/2022-12-01/subscriptions.json
// (Subscriptions_List, paged by nextLink).
const subscriptionsAPIVersion = "2022-12-01"

// Bounds of one discovery: pages followed, resources kept, subscriptions
// listed, and the wait keysync accepts for Resource Graph's quota.
const (
	maxPages         = 2000
	maxFound         = 500_000
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

// page counts a page against the bound.
func (d *discovery) page() error {
	if d.pages++; d.pages > maxPages {
		return fmt.Errorf("more than %d pages", maxPages)
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

type graphOptions struct {
	Top          int    `json:"$top"`
	SkipToken    string `json:"$skipToken,omitempty"`
	ResultFormat string `json:"resultFormat"`
}

// graphResponse is QueryResponse, with the rows keysync projects.
type graphResponse struct {
	Count           *int64     `json:"count"`
	ResultTruncated string     `json:"resultTruncated"`
	SkipToken       string     `json:"$skipToken"`
	Data            []graphRow `json:"data"`
}

// graph queries Resource Graph: a management group in one scope, else the
// subscriptions (named, or every one the identity sees) in groups, each
// followed page by page with $skipToken and the same query and scope, as
// the API requires.
func (d *discovery) graph(ctx context.Context) error {
	q := graphRequest{Query: d.sel.Query(), Options: graphOptions{Top: graphPageRows, ResultFormat: "objectArray"}}
	if d.sel.ManagementGroup != "" {
		q.ManagementGroups = []string{d.sel.ManagementGroup}
		return d.graphScope(ctx, q)
	}
	subs, err := d.subscriptions(ctx)
	if err != nil {
		return err
	}
	for start := 0; start < len(subs); start += graphGroup {
		q.Subscriptions = subs[start:min(start+graphGroup, len(subs))]
		d.scoped(q.Subscriptions)
		if err := d.graphScope(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

func (d *discovery) graphScope(ctx context.Context, q graphRequest) error {
	q.Options.SkipToken = ""
	for {
		if err := d.page(); err != nil {
			return &sources.Error{Err: err, Code: "TooManyResults"}
		}
		var page graphResponse
		if err := d.s.discoveryCall(ctx, http.MethodPost, d.s.client.Endpoint()+graphPath, graphAPIVersion, q, &page); err != nil {
			return err
		}
		if page.Count == nil || page.ResultTruncated == "true" {
			return &sources.Error{StatusCode: http.StatusOK, Code: "MalformedAnswer",
				Err: errors.New("resource graph answer has no count, or says it is truncated")}
		}
		for _, row := range page.Data {
			if err := d.add(row); err != nil {
				return err
			}
		}
		if page.SkipToken == "" {
			return nil
		}
		if len(page.SkipToken) > 4096 {
			return &sources.Error{StatusCode: http.StatusOK, Code: "MalformedAnswer", Err: errors.New("$skipToken longer than 4096 bytes")}
		}
		q.Options.SkipToken = page.SkipToken
	}
}

// subscriptions are the selector's, or every subscription the identity
// sees that can act (Enabled, Warned or PastDue; a Disabled one is
// read-only and a Deleted one is gone).
func (d *discovery) subscriptions(ctx context.Context) ([]string, error) {
	if len(d.sel.Subscriptions) > 0 {
		return d.sel.Subscriptions, nil
	}
	var out []string
	next := d.s.client.Endpoint() + "/subscriptions"
	version := subscriptionsAPIVersion
	for next != "" {
		if err := d.page(); err != nil {
			return nil, &sources.Error{Err: err, Code: "TooManyResults"}
		}
		var page struct {
			Value []struct {
				SubscriptionID string `json:"subscriptionId"`
				State          string `json:"state"`
			} `json:"value"`
			NextLink string `json:"nextLink"`
		}
		if err := d.s.discoveryCall(ctx, http.MethodGet, next, version, nil, &page); err != nil {
			return nil, err
		}
		for _, v := range page.Value {
			switch v.State {
			case "Enabled", "Warned", "PastDue":
				out = append(out, v.SubscriptionID)
			}
		}
		if len(out) > maxSubscriptions {
			return nil, &sources.Error{Err: fmt.Errorf("more than %d subscriptions", maxSubscriptions), Code: "TooManyResults"}
		}
		var err error
		if next, err = d.s.nextLink(page.NextLink, "/subscriptions"); err != nil {
			return nil, err
		}
		version = ""
	}
	return out, nil
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
	next := d.s.client.Endpoint() + prefix
	for next != "" {
		if err := d.page(); err != nil {
			return &sources.Error{Err: err, Code: "TooManyResults"}
		}
		var page struct {
			Value    []graphRow `json:"value"`
			NextLink string     `json:"nextLink"`
		}
		if err := d.s.discoveryCall(ctx, http.MethodGet, next, version, nil, &page); err != nil {
			return err
		}
		for _, r := range page.Value {
			if !d.selects(r) {
				continue
			}
			if err := d.add(r); err != nil {
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

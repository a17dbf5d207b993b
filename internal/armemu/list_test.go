package armemu

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// listPage is a list answer: {value, nextLink}.
type listPage[T any] struct {
	Value    []T    `json:"value"`
	NextLink string `json:"nextLink"`
	Error    struct{ Code, Message string }
}

// listAll follows a list from url through its nextLinks, returning every
// entry and the pages it took.
func listAll[T any](t *testing.T, c *client, url string) ([]T, int) {
	t.Helper()
	var out []T
	pages := 0
	for url != "" {
		if pages++; pages > 50 {
			t.Fatal("more than 50 pages")
		}
		status, _, raw := c.send(http.MethodGet, url, nil, "")
		var p listPage[T]
		if err := json.Unmarshal(raw, &p); err != nil || status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", url, status, raw)
		}
		if p.NextLink != "" && !strings.HasPrefix(p.NextLink, c.emu.URL()+"/") {
			t.Fatalf("nextLink %s is not on the emulator", p.NextLink)
		}
		out = append(out, p.Value...)
		url = p.NextLink
	}
	return out, pages
}

// TestListEveryType: each type's list-by-subscription answers its
// resources of that subscription (a namespace once, whatever its rules),
// with ARM's mixed-case type, location and tags, page by page; another
// api-version gets the CloudError listKeys gives.
func TestListEveryType(t *testing.T) {
	c := start(t)
	c.emu.SetListPageSize(2)
	for _, name := range TypeNames() {
		for _, n := range []string{"x1", "x2", "x3"} {
			r := resourceOf(name)
			r.Subscription, r.Name = subA, name+n
			c.emu.Add(r)
			if r.Rule != "" {
				r.Rule = "second"
				c.emu.Add(r)
			}
			if err := c.emu.SetTags(r, map[string]string{"n": n}); err != nil {
				t.Fatal(err)
			}
		}
		other := resourceOf(name)
		other.Subscription = subB
		c.emu.Add(other)
	}
	for _, name := range TypeNames() {
		typ := Types[name]
		t.Run(name, func(t *testing.T) {
			base := c.emu.URL() + "/subscriptions/" + subA + "/providers/" + typ.Provider
			got, pages := listAll[listEntry](t, c, base+"?api-version="+typ.APIVersions[0])
			if len(got) != 3 || pages != 2 {
				t.Fatalf("%d entries in %d pages, want 3 in 2", len(got), pages)
			}
			for i, g := range got {
				n := []string{"x1", "x2", "x3"}[i]
				want := Resource{Type: name, Subscription: subA, ResourceGroup: "rg-1", Name: name + n}
				if g.ID != want.ID() || g.Name != want.Name || g.Type != typ.Provider || g.Location == "" || g.Tags["n"] != n {
					t.Errorf("entry %d: %+v, want id %s", i, g, want.ID())
				}
			}
			status, _, raw := c.send(http.MethodGet, base+"?api-version=2017-01-01", nil, "")
			var e cloudErr
			_ = json.Unmarshal(raw, &e)
			if status != http.StatusBadRequest || e.Error.Code != "InvalidApiVersionParameter" {
				t.Errorf("wrong api-version: %d %s", status, e.Error.Code)
			}
		})
	}
}

// TestListErrors: unknown and deleted subscriptions, a Disabled one
// (read-only, still listed), a skiptoken of another list, a fault, no
// token.
func TestListErrors(t *testing.T) {
	c := start(t)
	c.emu.SetListPageSize(1)
	c.emu.Add(Resource{Subscription: subA, ResourceGroup: "rg", Name: "a1"})
	c.emu.Add(Resource{Subscription: subA, ResourceGroup: "rg", Name: "a2"})
	c.emu.Add(Resource{Subscription: subB, ResourceGroup: "rg", Name: "b1"})
	_ = c.emu.SetSubscriptionState(subB, StateDisabled)
	_ = c.emu.SetSubscriptionState(subC, StateDeleted)
	url := func(sub string) string {
		return c.emu.URL() + "/subscriptions/" + sub + "/providers/Microsoft.Batch/batchAccounts?api-version=2024-02-01"
	}
	status, _, raw := c.send(http.MethodGet, url(subA), nil, "")
	var p listPage[listEntry]
	if err := json.Unmarshal(raw, &p); err != nil || status != http.StatusOK || p.NextLink == "" {
		t.Fatalf("first page: %d %s", status, raw)
	}
	tok := p.NextLink[strings.Index(p.NextLink, "skiptoken=")+len("skiptoken="):]
	c.emu.InjectListFault(subA, "batch", Fault{Kind: FaultStatus, Status: 503, Code: "ServiceUnavailable", Times: 1})
	for _, tt := range []struct {
		name, url string
		status    int
		code      string
	}{
		{"unknown subscription", url("dddddddd-0000-0000-0000-000000000004"), 404, "SubscriptionNotFound"},
		{"deleted subscription", url(subC), 404, "SubscriptionNotFound"},
		{"fault", url(subA), 503, "ServiceUnavailable"},
		{"disabled subscription", url(subB), 200, ""},
		{"token of another list", url(subB) + "&$skiptoken=" + tok, 400, "InvalidSkipToken"},
		{"token of this list", url(subA) + "&$skiptoken=" + tok, 200, ""},
		{"storage type", strings.Replace(url(subA), "Microsoft.Batch/batchAccounts", "Microsoft.Storage/storageAccounts", 1), 400, "InvalidApiVersionParameter"},
	} {
		status, _, raw = c.send(http.MethodGet, tt.url, nil, "")
		var e cloudErr
		_ = json.Unmarshal(raw, &e)
		if status != tt.status || e.Error.Code != tt.code {
			t.Errorf("%s: %d %s, want %d %s", tt.name, status, e.Error.Code, tt.status, tt.code)
		}
	}
	c.token = ""
	if status, _, _ := c.send(http.MethodGet, url(subA), nil, ""); status != http.StatusUnauthorized {
		t.Fatalf("no token: %d", status)
	}
}

// TestSubscriptionsList: every subscription known, with its state, paged
// by nextLink; faults and api-version checked.
func TestSubscriptionsList(t *testing.T) {
	c := start(t)
	c.emu.SetListPageSize(2)
	c.emu.Add(Resource{Subscription: subA, ResourceGroup: "rg", Name: "a1"})
	c.emu.AddSubscription(subB)
	_ = c.emu.SetSubscriptionState(subC, StatePastDue)
	c.emu.AddManagementGroup("mg", "eeeeeeee-0000-0000-0000-000000000005")
	_ = c.emu.SetSubscriptionState("eeeeeeee-0000-0000-0000-000000000005", StateDisabled)
	got, pages := listAll[Subscription](t, c, c.emu.URL()+"/subscriptions?api-version=2022-12-01")
	var states []string
	for _, s := range got {
		if s.ID != "/subscriptions/"+s.SubID || s.DisplayName == "" {
			t.Errorf("subscription %+v", s)
		}
		states = append(states, s.SubID[:1]+":"+s.State)
	}
	if strings.Join(states, ",") != "a:Enabled,b:Enabled,c:PastDue,e:Disabled" || pages != 2 {
		t.Fatalf("%v in %d pages", states, pages)
	}
	c.emu.InjectSubscriptionsFault(Fault{Kind: FaultRaw, Body: `{"value":[],"nextLink":"https://elsewhere.example/subscriptions"}`, Times: 1})
	status, _, raw := c.send(http.MethodGet, c.emu.URL()+"/subscriptions?api-version=2022-12-01", nil, "")
	if status != 200 || !strings.Contains(string(raw), "elsewhere.example") {
		t.Fatalf("raw fault: %d %s", status, raw)
	}
	status, _, _ = c.send(http.MethodGet, c.emu.URL()+"/subscriptions?api-version=2016-06-01", nil, "")
	if status != http.StatusBadRequest {
		t.Fatalf("wrong api-version: %d", status)
	}
}

// TestAdminDiscovery: tags, subscription states and management groups
// through the admin API, and accounts without tags as before.
func TestAdminDiscovery(t *testing.T) {
	c := start(t)
	admin := func(path string, body any) int {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, c.emu.URL()+"/_emulator/"+path, bytes.NewReader(b))
		return c.do(req, nil)
	}
	for _, step := range []struct {
		path string
		body any
		want int
	}{
		{"accounts", map[string]any{"subscriptionId": subA, "resourceGroup": "rg", "name": "plain"}, 204},
		{"accounts", map[string]any{"subscriptionId": subA, "resourceGroup": "rg", "name": "tagged", "tags": map[string]string{"keysync": "true"}}, 204},
		{"tags", map[string]any{"subscriptionId": subA, "resourceGroup": "rg", "name": "plain", "tags": map[string]string{"owner": "me"}}, 204},
		{"tags", map[string]any{"subscriptionId": subA, "resourceGroup": "rg", "name": "nosuch", "tags": map[string]string{"a": "b"}}, 404},
		{"subscriptions", map[string]any{"subscriptionId": subB, "state": "Disabled"}, 204},
		{"subscriptions", map[string]any{"subscriptionId": subB, "state": "Sleeping"}, 404},
		{"subscriptions", map[string]any{"state": "Enabled"}, 404},
		{"management-groups", map[string]any{"managementGroup": "mg1", "subscriptions": []string{subA}}, 204},
		{"discovery-settings", map[string]any{"graphQuota": 1, "graphWindowSeconds": 60, "listPageSize": 1}, 204},
		{"discovery-faults", map[string]any{"endpoint": "list", "type": "batch", "subscriptionId": subA, "fault": map[string]any{"kind": "status", "status": 503, "times": 1}}, 204},
		{"discovery-faults", map[string]any{"endpoint": "list", "type": "nosuch", "subscriptionId": subA, "fault": map[string]any{"kind": "status"}}, 404},
		{"discovery-faults", map[string]any{"endpoint": "elsewhere", "fault": map[string]any{"kind": "status"}}, 404},
		{"discovery-faults", map[string]any{"endpoint": "graph", "fault": map[string]any{"kind": "status", "status": 500, "times": 1}}, 204},
	} {
		if got := admin(step.path, step.body); got != step.want {
			t.Errorf("%s %v: %d, want %d", step.path, step.body, got, step.want)
		}
	}
	checkAdminDiscovery(t, c)
}

// checkAdminDiscovery checks what TestAdminDiscovery set took effect.
func checkAdminDiscovery(t *testing.T, c *client) {
	t.Helper()
	list := c.emu.URL() + "/subscriptions/" + subA + "/providers/Microsoft.Batch/batchAccounts?api-version=2024-02-01"
	if status, _, _ := c.send(http.MethodGet, list, nil, ""); status != http.StatusServiceUnavailable {
		t.Fatalf("list fault through the admin API: %d", status)
	}
	if got, pages := listAll[listEntry](t, c, list); len(got) != 2 || pages != 2 {
		t.Fatalf("list page size through the admin API: %d in %d pages", len(got), pages)
	}
	if a := c.graph(map[string]any{"query": "Resources"}); a.status != http.StatusInternalServerError {
		t.Fatalf("graph fault through the admin API: %d", a.status)
	}
	if a := c.graph(map[string]any{"query": "Resources"}); a.status != http.StatusTooManyRequests {
		t.Fatalf("graph quota of 1 through the admin API: %d", a.status)
	}
	c.emu.SetGraphQuota(100, 0)
	a := c.graph(map[string]any{"managementGroups": []string{"mg1"}, "query": "Resources | where isnotempty(tags['keysync']) or isnotempty(tags['owner']) | project id, name, tags | order by id asc"})
	if a.names() != "plain,tagged" || a.Data[0]["tags"].(map[string]any)["owner"] != "me" {
		t.Fatalf("%d %v", a.status, a.Data)
	}
	if a, _ := c.emu.Get(Resource{Subscription: subA, ResourceGroup: "rg", Name: "tagged"}); a.Tags["keysync"] != "true" {
		t.Fatalf("tags %v", a.Tags)
	}
	if s := c.emu.Subscriptions(); len(s) != 2 || s[1].State != StateDisabled {
		t.Fatalf("subscriptions %+v", s)
	}
}

package armemu

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

const (
	subA = "aaaaaaaa-0000-0000-0000-000000000001"
	subB = "bbbbbbbb-0000-0000-0000-000000000002"
	subC = "cccccccc-0000-0000-0000-000000000003"
)

// graphAnswer is QueryResponse, or ErrorResponse, and the headers.
type graphAnswer struct {
	status          int
	header          http.Header
	TotalRecords    *int64           `json:"totalRecords"`
	Count           *int64           `json:"count"`
	ResultTruncated any              `json:"resultTruncated"`
	SkipToken       string           `json:"$skipToken"`
	Data            []map[string]any `json:"data"`
	Error           struct {
		Code, Message string
		Details       []struct{ Code, Message string }
	} `json:"error"`
}

// send sends a request with the client's token, returning the status,
// the headers and the body.
func (c *client) send(method, url string, body []byte, contentType string) (int, http.Header, []byte) {
	c.t.Helper()
	req, _ := http.NewRequestWithContext(c.t.Context(), method, url, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// graph sends a Resource Graph query.
func (c *client) graph(body any) graphAnswer {
	c.t.Helper()
	b, _ := json.Marshal(body)
	status, h, raw := c.send(http.MethodPost, c.emu.URL()+graphPath+"?api-version="+graphAPIVersion, b, "application/json")
	a := graphAnswer{status: status, header: h}
	if err := json.Unmarshal(raw, &a); err != nil {
		c.t.Fatalf("graph answer %d is not JSON: %v", status, err)
	}
	return a
}

// names are the rows' name column, in order.
func (a graphAnswer) names() string {
	var out []string
	for _, r := range a.Data {
		out = append(out, r["name"].(string))
	}
	return strings.Join(out, ",")
}

// estate fills an emulator: batch accounts with tags in two subscriptions
// and groups of mixed case, a storage account and an Event Hubs namespace
// with two rules.
func estate(t *testing.T, e *Emulator) {
	t.Helper()
	e.SetGraphQuota(1000, time.Minute)
	for _, r := range []struct {
		sub, rg, name string
		tags          map[string]string
	}{
		{subA, "RG-One", "b1", map[string]string{"keysync": "true", "owner": "O'Brien"}},
		{subA, "rg-one", "b2", map[string]string{"keysync": "TRUE"}},
		{subA, "rg-two", "b3", map[string]string{"keysync": "false"}},
		{subA, "rg-two", "b4", map[string]string{"keysync": ""}},
		{subB, "Rg-Two", "b5", nil},
	} {
		res := Resource{Subscription: r.sub, ResourceGroup: r.rg, Name: r.name}
		e.Add(res)
		if r.tags != nil {
			if err := e.SetTags(res, r.tags); err != nil {
				t.Fatal(err)
			}
		}
	}
	e.Add(Resource{Type: "storage", Subscription: subA, ResourceGroup: "rg-one", Name: "s1"})
	for _, rule := range []string{"r1", "r2"} {
		e.Add(Resource{Type: "eventhubs", Subscription: subA, ResourceGroup: "rg-one", Name: "ns1", Rule: rule})
	}
}

func inAB(q string) map[string]any {
	return map[string]any{"subscriptions": []string{subA, subB}, "query": q, "options": map[string]any{"resultFormat": "objectArray"}}
}

// TestGraphQueryForms: each form of the subset selects what Azure's
// semantics select: type and resourceGroup lower-case, =~ in~ !~ without
// case, a missing tag null unless tostring'd.
func TestGraphQueryForms(t *testing.T) {
	c := start(t)
	estate(t, c.emu)
	const batch = "Resources | where type =~ 'microsoft.batch/batchaccounts' "
	tests := []struct{ name, q, want string }{
		{"type", batch + "| order by id asc", "b1,b2,b3,b4,b5"},
		{"type any case", "Resources | where type =~ 'MICROSOFT.BATCH/BATCHACCOUNTS' | order by id asc", "b1,b2,b3,b4,b5"},
		{"type is lower-case", "Resources | where type == 'Microsoft.Batch/batchAccounts'", ""},
		{"type lower ==", "Resources | where type == 'microsoft.storage/storageaccounts'", "s1"},
		{"namespace once", "Resources | where type =~ 'Microsoft.EventHub/namespaces'", "ns1"},
		{"groups", batch + "| where resourceGroup in~ ('RG-ONE', 'nothere') | order by id asc", "b1,b2"},
		{"group is lower-case", batch + "| where resourceGroup == 'RG-One'", ""},
		{"tag equals", batch + "| where tostring(tags['keysync']) =~ 'true' | order by id asc", "b1,b2"},
		{"tag present", batch + "| where isnotempty(tags['keysync']) | order by id asc", "b1,b2,b3"},
		{"tag absent", batch + "| where isempty(tags['keysync']) | order by id asc", "b4,b5"},
		{"tag not equals", batch + "| where isempty(tags['keysync']) or tostring(tags['keysync']) !~ 'true' | order by id asc", "b3,b4,b5"},
		{"null is not !~", batch + "| where tags['keysync'] !~ 'true' | order by id asc", "b3,b4"},
		{"tag key keeps case", batch + "| where isnotempty(tags['KeySync'])", ""},
		{"escaped quote", batch + `| where tostring(tags['owner']) =~ 'o\'brien'`, "b1"},
		{"and", batch + "| where isnotempty(tags['keysync']) and resourceGroup =~ 'rg-two'", "b3"},
		{"desc", batch + "| project id, name | order by id desc", "b5,b4,b3,b2,b1"},
		{"lower table name", "resources | where name =~ 'B5'", "b5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := c.graph(inAB(tt.q))
			if a.status != http.StatusOK || a.names() != tt.want {
				t.Fatalf("%d %s: got %q, want %q", a.status, a.Error.Message, a.names(), tt.want)
			}
			if a.ResultTruncated != "false" || *a.Count != int64(len(a.Data)) || *a.TotalRecords != int64(len(a.Data)) {
				t.Fatalf("resultTruncated %#v, count %d, totalRecords %d", a.ResultTruncated, *a.Count, *a.TotalRecords)
			}
		})
	}
}

// TestGraphTagNameCase: Resource Graph keeps a tag's name as it was
// written, and tags['name'] finds it only in that case: the published
// sample "Find storage accounts with a specific case-sensitive tag on the
// resource group" is written tags['Key1'] =~ 'Value1'
// (MicrosoftDocs/azure-docs includes/resource-graph/samples/bycat/tags.md).
// A query that lower-cases the tags first (todynamic(tolower(tostring(tags))),
// as Azure Update Management's dynamic groups do,
// learn.microsoft.com/azure/automation/troubleshoot/update-management)
// finds every case; a resource without tags is null there too.
func TestGraphTagNameCase(t *testing.T) {
	c := start(t)
	c.emu.SetGraphQuota(1000, time.Minute)
	for name, tags := range map[string]map[string]string{
		"lower": {"keysync": "true"}, "upper": {"KEYSYNC": "TRUE"}, "mixed": {"Keysync": "True", "Owner": "Team-A"},
		"other": {"keysync": "false"}, "none": nil,
	} {
		r := Resource{Subscription: subC, ResourceGroup: "rg", Name: name}
		c.emu.Add(r)
		if tags != nil {
			if err := c.emu.SetTags(r, tags); err != nil {
				t.Fatal(err)
			}
		}
	}
	const lower = "Resources | extend t = todynamic(tolower(tostring(tags))) "
	for _, tt := range []struct{ name, q, want string }{
		{"as written", "Resources | where tostring(tags['keysync']) =~ 'true' | order by name asc", "lower"},
		{"as written, another case", "Resources | where tostring(tags['Keysync']) =~ 'true'", "mixed"},
		{"lower-cased", lower + "| where tostring(t[tolower('KeySync')]) == tolower('TRUE') | order by name asc", "lower,mixed,upper"},
		{"lower-cased present", lower + "| where isnotempty(t['keysync']) | order by name asc", "lower,mixed,other,upper"},
		{"lower-cased absent", lower + "| where isempty(t['keysync']) | order by name asc", "none"},
		{"lower-cased not equals", lower + "| where isempty(t['keysync']) or tostring(t['keysync']) != 'true' | order by name asc", "none,other"},
		{"tags as text", "Resources | where tostring(tags) == '{\"Keysync\":\"True\",\"Owner\":\"Team-A\"}'", "mixed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := c.graph(map[string]any{"subscriptions": []string{subC}, "query": tt.q})
			if a.status != http.StatusOK || a.names() != tt.want {
				t.Fatalf("%d %+v: got %q, want %q", a.status, a.Error, a.names(), tt.want)
			}
		})
	}
	a := c.graph(map[string]any{"subscriptions": []string{subC}, "query": lower + "| where name == 'mixed' | project name, t, tags"})
	if a.status != http.StatusOK || len(a.Data) != 1 || fmt.Sprint(a.Data[0]["t"]) != "map[keysync:true owner:team-a]" ||
		fmt.Sprint(a.Data[0]["tags"]) != "map[Keysync:True Owner:Team-A]" {
		t.Fatalf("projected %d %v", a.status, a.Data)
	}
}

// TestGraphProjection: the columns projected and no other; type and
// resourceGroup lower-case, id in ARM's case, tags as an object.
func TestGraphProjection(t *testing.T) {
	c := start(t)
	estate(t, c.emu)
	a := c.graph(inAB("Resources | where name =~ 'b1' | project id, name, type, subscriptionId, resourceGroup, tags"))
	if a.status != http.StatusOK || len(a.Data) != 1 {
		t.Fatalf("%d: %d rows", a.status, len(a.Data))
	}
	got := a.Data[0]
	want := map[string]any{"id": "/subscriptions/" + subA + "/resourceGroups/RG-One/providers/Microsoft.Batch/batchAccounts/b1",
		"name": "b1", "type": "microsoft.batch/batchaccounts", "subscriptionId": subA, "resourceGroup": "rg-one",
		"tags": map[string]any{"keysync": "true", "owner": "O'Brien"}}
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	if !bytes.Equal(gb, wb) {
		t.Fatalf("row %s\nwant %s", gb, wb)
	}
}

// TestGraphProperties: the properties column is the resource's GET
// properties; a Storage account's primaryEndpoints are the ones its GET
// answers (SetEndpoints included), read by dot or bracket alike, and
// tostring'd as JSON; a type without endpoints has none.
func TestGraphProperties(t *testing.T) {
	c := start(t)
	estate(t, c.emu)
	s1 := Resource{Type: "storage", Subscription: subA, ResourceGroup: "rg-one", Name: "s1"}
	c.emu.Add(Resource{Type: "storage", Subscription: subA, ResourceGroup: "rg-one", Name: "s2"})
	zoned := map[string]string{"blob": "https://s1.z07.blob.storage.azure.net/", "table": "https://s1.z07.table.storage.azure.net/"}
	if err := c.emu.SetEndpoints(s1, zoned); err != nil {
		t.Fatal(err)
	}
	const storage = "Resources | where type =~ 'microsoft.storage/storageaccounts' "
	for _, tt := range []struct{ name, q, want string }{
		{"dot", storage + "| extend e = properties.primaryEndpoints | project name, e | order by name asc",
			`[{"e":{"blob":"https://s1.z07.blob.storage.azure.net/","table":"https://s1.z07.table.storage.azure.net/"},"name":"s1"},` +
				`{"e":{"blob":"https://s2.blob.core.windows.net/","file":"https://s2.file.core.windows.net/","queue":"https://s2.queue.core.windows.net/","table":"https://s2.table.core.windows.net/"},"name":"s2"}]`},
		{"bracket", storage + "| where name == 's1' | extend e = properties['primaryEndpoints'] | project e",
			`[{"e":{"blob":"https://s1.z07.blob.storage.azure.net/","table":"https://s1.z07.table.storage.azure.net/"}}]`},
		{"one endpoint", storage + "| where name == 's1' | extend b = tostring(properties.primaryEndpoints.blob) | project b",
			`[{"b":"https://s1.z07.blob.storage.azure.net/"}]`},
		{"filter", storage + "| where tostring(properties.provisioningState) == 'Succeeded' and isnotempty(properties.primaryEndpoints.queue) | project name",
			`[{"name":"s2"}]`},
		{"none", "Resources | where name == 'b1' | extend e = properties.primaryEndpoints | project name, e", `[{"e":null,"name":"b1"}]`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := c.graph(inAB(tt.q))
			got, _ := json.Marshal(a.Data)
			if a.status != http.StatusOK || string(got) != tt.want {
				t.Fatalf("%d %+v: got %s\nwant %s", a.status, a.Error, got, tt.want)
			}
		})
	}
}

// TestGraphRefusesUnsupportedKQL: anything outside the subset is a 400
// naming the part, never a query that matches everything.
func TestGraphRefusesUnsupportedKQL(t *testing.T) {
	c := start(t)
	estate(t, c.emu)
	for q, part := range map[string]string{
		"Resources | where type contains 'batch'":           `"contains"`,
		"Resources | limit 3":                               "'3'",
		"Resources | take":                                  `"take"`,
		"Resources | where Type =~ 'x'":                     `"Type"`,
		"Resources | where name.keysync =~ 'true'":          "only a dynamic value can be indexed",
		"Resources | where tags.'k' =~ 'true'":              "a name after the dot",
		"Resources | order by properties asc":               "dynamic",
		"ResourceContainers":                                `"ResourceContainers"`,
		"Resources | where name =~ \"b1\"":                  `'"'`,
		"Resources | where name =~ 'b1":                     "unterminated",
		"Resources | where name =~ 'a\\n'":                  "escape",
		"Resources | where bag_has_key(tags, 'k')":          `"bag_has_key"`,
		"Resources | where name !in~ ('a')":                 "'!'",
		"Resources | project id | project name":             "single project",
		"Resources | order by tags asc":                     "dynamic",
		"Resources | where":                                 "end of the query",
		"Resources | where resourceGroup in~ ('a',)":        `")"`,
		"Resources | where isempty(tags['k']) or":           "end of the query",
		"Resources | where name =~ 'b1' | extend x = 1":     "'1'",
		"Resources | where name =~ 'b1' | extend":           "a new column name",
		"Resources | extend name = tostring(tags)":          `"name"`,
		"Resources | extend t = tags | extend t = tags":     "not extended before",
		"Resources | where tolower(tags) == 'x'":            "tostring first",
		"Resources | where todynamic(tags)['k'] == 'x'":     "tostring first",
		"Resources | where name['k'] == 'x'":                "only a dynamic value can be indexed",
		"Resources | where tags[tags] == 'x'":               "a string key",
		"Resources | where t == 'x' | extend t = tags":      `"t"`,
		"Resources | extend desc = tags":                    `"desc"`,
		"Resources | project id, name | order by location":  "not in the projection",
		"Resources | where name =~ 'b1' and 1 == 1":         "'1'",
		"Resources | where name =~ 'a' | where id == 'b' |": "end of the query",
	} {
		a := c.graph(inAB(q))
		if a.status != http.StatusBadRequest || a.Error.Code != "BadRequest" || len(a.Error.Details) != 2 ||
			a.Error.Details[0].Code != "InvalidQuery" || !strings.Contains(a.Error.Details[1].Message, part) {
			t.Errorf("%s: %d %+v, want 400 InvalidQuery naming %s", q, a.status, a.Error, part)
		}
	}
}

// TestGraphRequestChecks: the request's own constraints, each refused as
// Azure documents.
func TestGraphRequestChecks(t *testing.T) {
	c := start(t)
	estate(t, c.emu)
	many := make([]string, 1001)
	for i := range many {
		many[i] = subA
	}
	q := "Resources | project id"
	tests := []struct {
		name   string
		body   map[string]any
		status int
	}{
		{"both scopes", map[string]any{"subscriptions": []string{subA}, "managementGroups": []string{"mg"}, "query": q}, 400},
		{"1001 subscriptions", map[string]any{"subscriptions": many, "query": q}, 400},
		{"1000 subscriptions", map[string]any{"subscriptions": many[:1000], "query": q}, 200},
		{"top 0", map[string]any{"query": q, "options": map[string]any{"$top": 0}}, 400},
		{"top 1001", map[string]any{"query": q, "options": map[string]any{"$top": 1001}}, 400},
		{"skip -1", map[string]any{"query": q, "options": map[string]any{"$skip": -1}}, 400},
		{"table", map[string]any{"query": q, "options": map[string]any{"resultFormat": "table"}}, 400},
		{"no query", map[string]any{"subscriptions": []string{subA}}, 400},
		{"facets", map[string]any{"query": q, "facets": []any{map[string]any{"expression": "type"}}}, 400},
		{"unknown management group", map[string]any{"managementGroups": []string{"nosuch"}, "query": q}, 400},
		{"tenant scope", map[string]any{"query": q}, 200},
	}
	for _, tt := range tests {
		if a := c.graph(tt.body); a.status != tt.status || (a.status == 400 && a.Error.Code != "BadRequest") {
			t.Errorf("%s: %d %+v, want %d", tt.name, a.status, a.Error, tt.status)
		}
	}
	c.token = "forged"
	if a := c.graph(inAB(q)); a.status != http.StatusUnauthorized || a.Error.Code != "InvalidAuthenticationToken" {
		t.Errorf("forged token: %d %s", a.status, a.Error.Code)
	}
}

// TestGraphHTTPChecks: content type, api-version, method, path and body
// size, each refused as Azure does.
func TestGraphHTTPChecks(t *testing.T) {
	c := start(t)
	c.emu.SetGraphQuota(1000, time.Minute)
	url := c.emu.URL() + graphPath + "?api-version=" + graphAPIVersion
	body := []byte(`{"query":"Resources"}`)
	for _, tt := range []struct {
		name, method, url, contentType string
		body                           []byte
		status                         int
		code                           string
	}{
		{"text/plain", http.MethodPost, url, "text/plain", body, 500, "InternalServerError"},
		{"wrong api-version", http.MethodPost, c.emu.URL() + graphPath + "?api-version=2019-04-01", "application/json", body, 400, "InvalidApiVersionParameter"},
		{"GET", http.MethodGet, url, "", nil, 405, "HttpMethodNotAllowed"},
		{"another provider path", http.MethodPost, c.emu.URL() + "/providers/Microsoft.ResourceGraph/other?api-version=" + graphAPIVersion, "application/json", body, 404, "InvalidResourceType"},
		{"huge body", http.MethodPost, url, "application/json", append([]byte(`{"query":"`), bytes.Repeat([]byte("x"), graphBodyLimit)...), 400, "BadRequest"},
	} {
		status, _, raw := c.send(tt.method, tt.url, tt.body, tt.contentType)
		var e cloudErr
		_ = json.Unmarshal(raw, &e)
		if status != tt.status || e.Error.Code != tt.code {
			t.Errorf("%s: %d %s, want %d %s", tt.name, status, e.Error.Code, tt.status, tt.code)
		}
	}
}

// TestGraphPaging: $top rows a page, a $skipToken while more follow, the
// pages together the whole sorted answer; the token works only with the
// same query and scope; without the id column there is no paging.
func TestGraphPaging(t *testing.T) {
	c := start(t)
	c.emu.SetGraphQuota(1000, time.Minute)
	for i := range 7 {
		c.emu.Add(Resource{Subscription: subA, ResourceGroup: "rg", Name: "acct" + string(rune('g'-i))})
	}
	q := "Resources | where type =~ 'microsoft.batch/batchaccounts' | project id, name | order by id asc"
	body := map[string]any{"subscriptions": []string{subA}, "query": q, "options": map[string]any{"$top": 3}}
	var names []string
	var tokens []string
	for page := 0; ; page++ {
		a := c.graph(body)
		if a.status != 200 || *a.TotalRecords != 7 || *a.Count != int64(len(a.Data)) || page > 3 {
			t.Fatalf("page %d: %d %+v", page, a.status, a.Error)
		}
		names = append(names, a.names())
		if a.SkipToken == "" {
			break
		}
		tokens = append(tokens, a.SkipToken)
		body["options"] = map[string]any{"$top": 3, "$skipToken": a.SkipToken}
	}
	if got := strings.Join(names, "|"); got != "accta,acctb,acctc|acctd,accte,acctf|acctg" {
		t.Fatalf("pages %s", got)
	}
	for name, b := range map[string]map[string]any{
		"another query":   {"subscriptions": []string{subA}, "query": q + " ", "options": map[string]any{"$skipToken": tokens[0]}},
		"another scope":   {"subscriptions": []string{subA, subB}, "query": q, "options": map[string]any{"$skipToken": tokens[0]}},
		"tenant scope":    {"query": q, "options": map[string]any{"$skipToken": tokens[0]}},
		"forged":          {"subscriptions": []string{subA}, "query": q, "options": map[string]any{"$skipToken": "AAAAAAAAAAEAAAAA"}},
		"tampered offset": {"subscriptions": []string{subA}, "query": q, "options": map[string]any{"$skipToken": "B" + tokens[0][1:]}},
	} {
		if a := c.graph(b); a.status != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", name, a.status)
		}
	}
	// The scope's order and case do not matter; $top may change.
	a := c.graph(map[string]any{"subscriptions": []string{strings.ToUpper(subA)}, "query": q, "options": map[string]any{"$top": 10, "$skipToken": tokens[0]}})
	if a.status != 200 || a.names() != "acctd,accte,acctf,acctg" || a.SkipToken != "" {
		t.Fatalf("same scope another way: %d %q", a.status, a.names())
	}
	a = c.graph(map[string]any{"subscriptions": []string{subA}, "query": "Resources | project name", "options": map[string]any{"$top": 3}})
	if a.status != 200 || a.ResultTruncated != "true" || a.SkipToken != "" || len(a.Data) != 3 {
		t.Fatalf("no id column: %d truncated %v token %q", a.status, a.ResultTruncated, a.SkipToken)
	}
}

// TestLowerCasedTagsAsJSONWould: todynamic(tolower(tostring(tags))) taken
// without JSON is what the JSON round trip gives, names that lower-casing
// makes one included (the later in the text wins).
func TestLowerCasedTagsAsJSONWould(t *testing.T) {
	for _, bag := range []map[string]string{
		{"Keysync": "True", "owner": "Ä-Team", "a\"b": "x<y>&z"},
		{"ENV": "Prod", "Env": "dev", "env": "Test"},
		{"ß": "İ", "\u2028": "\t"},
		{},
	} {
		v := call("todynamic", call("tolower", call("tostring", bagOf(bag))))
		want := parseJSON(strings.ToLower(bagJSON(bag)))
		if fmt.Sprint(v.bag) != fmt.Sprint(want.bag) || v.kind != want.kind {
			t.Errorf("%v: %v, want %v", bag, v.bag, want.bag)
		}
		if s := call("tostring", bagOf(bag)).str(); s != bagJSON(bag) {
			t.Errorf("tostring %v: %s", bag, s)
		}
	}
}

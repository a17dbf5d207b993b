package azure

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keysync/keysync/fault"
	"github.com/keysync/keysync/sources"
)

// graphServer speaks Resource Graph's query API, the subscriptions list and
// ARM's list API, over TLS, from a table of resources; the source reaches
// it through its real pipeline, with a token from the emulator's identity
// endpoint.
type graphServer struct {
	mu        sync.Mutex
	resources []graphRow
	subs      map[string]string // id -> state
	pageSize  int
	requests  []graphRequest
	paths     []string
	handler   func(w http.ResponseWriter, r *http.Request) bool // runs first; true: answered
}

func (g *graphServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.paths = append(g.paths, r.URL.Path)
	if g.handler != nil && g.handler(w, r) {
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == graphPath:
		g.query(w, r)
	case r.Method == http.MethodGet && r.URL.Path == "/subscriptions":
		var v []map[string]string
		for id, st := range g.subs {
			v = append(v, map[string]string{"subscriptionId": id, "state": st})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"value": v})
	case r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/providers/"):
		g.list(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (g *graphServer) query(w http.ResponseWriter, r *http.Request) {
	var q graphRequest
	if err := json.NewDecoder(r.Body).Decode(&q); err != nil || r.URL.Query().Get("api-version") != graphAPIVersion {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	g.requests = append(g.requests, q)
	var rows []graphRow
	for _, res := range g.resources {
		for _, s := range q.Subscriptions {
			if strings.Contains(res.ID, s) {
				rows = append(rows, res)
			}
		}
	}
	start := 0
	_, _ = fmt.Sscanf(q.Options.SkipToken, "skip%d", &start) // no token: the first page
	end := min(start+g.pageSize, len(rows))
	resp := map[string]any{"count": end - start, "totalRecords": len(rows), "resultTruncated": "false", "data": rows[start:end]}
	if end < len(rows) {
		resp["$skipToken"] = fmt.Sprintf("skip%d", end)
	}
	_ = json.NewEncoder(w).Encode(resp)
}

func (g *graphServer) list(w http.ResponseWriter, r *http.Request) {
	var rows []graphRow
	for _, res := range g.resources {
		if strings.HasPrefix(strings.ToLower(res.ID), strings.ToLower(strings.SplitN(r.URL.Path, "/providers/", 2)[0])) {
			rows = append(rows, res)
		}
	}
	start := 0
	_, _ = fmt.Sscanf(r.URL.Query().Get("$skiptoken"), "%d", &start) // no token: the first page
	end := min(start+g.pageSize, len(rows))
	resp := map[string]any{"value": rows[start:end]}
	if end < len(rows) {
		resp["nextLink"] = fmt.Sprintf("https://%s%s?api-version=x&$skiptoken=%d", r.Host, r.URL.Path, end)
	}
	_ = json.NewEncoder(w).Encode(resp)
}

func startGraph(t *testing.T, g *graphServer) *Source {
	t.Helper()
	ts := httptest.NewTLSServer(g)
	t.Cleanup(ts.Close)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(emu.CACertPEM())
	pool.AddCert(ts.Certificate())
	o := emuOpts
	o.Endpoint = ts.URL
	o.Transport = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return newSource(t, o)
}

func subN(i int) string { return fmt.Sprintf("%08d-0000-0000-0000-000000000000", i) }

func batchID(s, rg, name string) string {
	return "/subscriptions/" + s + "/resourceGroups/" + rg + "/providers/Microsoft.Batch/batchAccounts/" + name
}

// TestGraphDiscovery: 300 subscriptions go in two groups, each followed
// page by page with the same query and scope; only the tags asked for
// come back.
func TestGraphDiscovery(t *testing.T) {
	g := &graphServer{pageSize: 2}
	var subs []string
	for i := range 300 {
		subs = append(subs, subN(i))
	}
	for _, i := range []int{1, 2, 260} {
		for j := range 3 {
			g.resources = append(g.resources, graphRow{ID: batchID(subN(i), "RG", fmt.Sprintf("acct%d%d", i, j)), Tags: map[string]string{"Owner": "team", "other": "x"}})
		}
	}
	s := startGraph(t, g)
	found, err := s.Discover(context.Background(), sources.Selector{Type: "batch", Subscriptions: subs, KeepTags: []string{"owner"}}, EngineResourceGraph)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 9 || found[0].Account.ResourceGroup != "RG" || found[0].Tags["Owner"] != "team" || len(found[0].Tags) != 1 {
		t.Fatalf("found %d, first %+v", len(found), found[0])
	}
	// group 1: 6 rows in 3 pages; group 2: 3 rows in 2 pages.
	if len(g.requests) != 5 || len(g.requests[0].Subscriptions) != 250 || len(g.requests[3].Subscriptions) != 50 {
		t.Fatalf("%d requests", len(g.requests))
	}
	for i, q := range g.requests {
		if q.Query != g.requests[0].Query || q.Options.ResultFormat != "objectArray" || q.Options.Top != graphPageRows {
			t.Fatalf("request %d changed the query or options: %+v", i, q.Options)
		}
	}
	if g.requests[1].Options.SkipToken != "skip2" || g.requests[3].Options.SkipToken != "" {
		t.Fatalf("skip tokens %q %q", g.requests[1].Options.SkipToken, g.requests[3].Options.SkipToken)
	}
}

// TestGraphDiscoveryEverySubscription: with no subscriptions named, the
// ones the identity sees and that can act are searched.
func TestGraphDiscoveryEverySubscription(t *testing.T) {
	g := &graphServer{pageSize: 10, subs: map[string]string{subN(1): "Enabled", subN(2): "Disabled", subN(3): "PastDue"}}
	s := startGraph(t, g)
	if _, err := s.Discover(context.Background(), sources.Selector{Type: "batch"}, ""); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(g.requests[0].Subscriptions, ",")
	if !strings.Contains(got, subN(1)) || !strings.Contains(got, subN(3)) || strings.Contains(got, subN(2)) {
		t.Fatalf("searched %s", got)
	}
}

func TestGraphDiscoveryRefusesHostileAnswers(t *testing.T) {
	tests := []struct {
		name string
		body string
		code string
	}{
		{"another type", `{"count":1,"resultTruncated":"false","data":[{"id":"/subscriptions/` + subN(1) + `/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/s1"}]}`, "MalformedAnswer"},
		{"not an id", `{"count":1,"resultTruncated":"false","data":[{"id":"../../etc"}]}`, "MalformedAnswer"},
		{"truncated", `{"count":1,"resultTruncated":"true","data":[]}`, "MalformedAnswer"},
		{"no count", `{"resultTruncated":"false","data":[]}`, "MalformedAnswer"},
		{"not json", `<html>`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &graphServer{handler: func(w http.ResponseWriter, r *http.Request) bool { w.Write([]byte(tt.body)); return true }}
			_, err := startGraph(t, g).Discover(context.Background(), sources.Selector{Type: "batch", Subscriptions: []string{subN(1)}}, "")
			var se *sources.Error
			if !errors.As(err, &se) || (tt.code != "" && se.Code != tt.code) || fault.Transient(err) {
				t.Fatalf("err %v", err)
			}
		})
	}
}

// TestGraphThrottling: a 429 is transient and carries the wait; a page
// that says no quota is left makes the next one wait for the reset.
func TestGraphThrottling(t *testing.T) {
	g := &graphServer{handler: func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("x-ms-user-quota-resets-after", "00:00:04")
		w.WriteHeader(http.StatusTooManyRequests)
		w.Write([]byte(`{"error":{"code":"RateLimiting","message":"Please provide below info when asking for support"}}`))
		return true
	}}
	_, err := startGraph(t, g).Discover(context.Background(), sources.Selector{Type: "batch", Subscriptions: []string{subN(1)}}, "")
	if c, _ := fault.Of(err); !c.Transient || c.RetryAfter != 4*time.Second || c.Code != "RateLimiting" {
		t.Fatalf("429: %+v (%v)", c, err)
	}

	g = &graphServer{pageSize: 1, resources: []graphRow{{ID: batchID(subN(1), "rg", "acc1")}, {ID: batchID(subN(1), "rg", "acc2")}}}
	var stamps []time.Time
	g.handler = func(w http.ResponseWriter, r *http.Request) bool {
		stamps = append(stamps, time.Now())
		w.Header().Set("x-ms-user-quota-remaining", "0")
		w.Header().Set("x-ms-user-quota-resets-after", "00:00:01")
		return false
	}
	found, err := startGraph(t, g).Discover(context.Background(), sources.Selector{Type: "batch", Subscriptions: []string{subN(1)}}, "")
	if err != nil || len(found) != 2 || len(stamps) != 2 {
		t.Fatalf("found %d, %d requests: %v", len(found), len(stamps), err)
	}
	if gap := stamps[1].Sub(stamps[0]); gap < time.Second {
		t.Fatalf("the second page came %v after the first, before the quota reset", gap)
	}
}

func TestQuotaReset(t *testing.T) {
	for v, want := range map[string]time.Duration{"00:00:03": 3 * time.Second, "00:01:00": time.Minute, "99:00:00": maxQuotaWait,
		"": 0, "3": 0, "00:00:99": 0, "-1:00:00": 0, "00:00:03x": 0} {
		h := http.Header{}
		h.Set("x-ms-user-quota-resets-after", v)
		if got := quotaReset(h); got != want {
			t.Errorf("quotaReset(%q) = %v, want %v", v, got, want)
		}
	}
}

// TestARMListDiscovery: the list API is followed by nextLink, and resource
// groups and tags are filtered here, since that API cannot.
func TestARMListDiscovery(t *testing.T) {
	g := &graphServer{pageSize: 2, resources: []graphRow{
		{ID: batchID(subN(1), "keep", "acc1"), Tags: map[string]string{"keysync": "true"}},
		{ID: batchID(subN(1), "KEEP", "acc2"), Tags: map[string]string{"keysync": "TRUE"}},
		{ID: batchID(subN(1), "keep", "acc3"), Tags: map[string]string{"keysync": "false"}},
		{ID: batchID(subN(1), "other", "acc4"), Tags: map[string]string{"keysync": "true"}},
		{ID: batchID(subN(1), "keep", "acc5"), Tags: map[string]string{"keysync": "true"}},
	}}
	sel := sources.Selector{Type: "batch", Subscriptions: []string{subN(1)}, ResourceGroups: []string{"keep"}, Tags: []sources.TagMatch{{Key: "keysync", Value: "true"}}}
	found, err := startGraph(t, g).Discover(context.Background(), sel, EngineARMList)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range found {
		names = append(names, f.Account.Name)
	}
	if strings.Join(names, ",") != "acc1,acc2,acc5" || len(g.paths) != 3 {
		t.Fatalf("found %v in %d requests", names, len(g.paths))
	}
}

// TestARMListRefusesForeignNextLink: a nextLink to another host would
// carry ARM's bearer token there; it is refused, not followed.
func TestARMListRefusesForeignNextLink(t *testing.T) {
	for _, link := range []string{"https://attacker.example/subscriptions/x", "http://127.0.0.1/subscriptions/", "/elsewhere"} {
		g := &graphServer{handler: func(w http.ResponseWriter, r *http.Request) bool {
			fmt.Fprintf(w, `{"value":[],"nextLink":%q}`, link)
			return true
		}}
		_, err := startGraph(t, g).Discover(context.Background(), sources.Selector{Type: "batch", Subscriptions: []string{subN(1)}}, EngineARMList)
		if fault.Code(err) != "MalformedAnswer" || len(g.paths) != 1 {
			t.Fatalf("nextLink %s: %v after %d requests", link, err, len(g.paths))
		}
	}
}

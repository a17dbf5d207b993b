package armemu

import (
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"
)

var hhmmss = regexp.MustCompile(`^\d\d:\d\d:\d\d$`)

// TestGraphQuota: every answer tells the quota left and when it resets;
// over it, 429 RateLimiting with Retry-After; after the window, queries
// pass again. The quota is the caller's. A minute's window holds the
// first three queries on any machine; Retry-After then counts down from
// it and agrees with x-ms-user-quota-resets-after. A short window of its
// own shows a throttled caller passing again.
func TestGraphQuota(t *testing.T) {
	c := start(t)
	estate(t, c.emu)
	began := time.Now()
	c.emu.SetGraphQuota(2, time.Minute)
	for i, want := range []string{"1", "0"} {
		a := c.graph(inAB("Resources"))
		if a.status != 200 || a.header.Get("x-ms-user-quota-remaining") != want || !hhmmss.MatchString(a.header.Get("x-ms-user-quota-resets-after")) {
			t.Fatalf("query %d: %d remaining %q resets %q", i, a.status, a.header.Get("x-ms-user-quota-remaining"), a.header.Get("x-ms-user-quota-resets-after"))
		}
	}
	a := c.graph(inAB("Resources"))
	waited := time.Since(began)
	after, _ := strconv.Atoi(a.header.Get("Retry-After"))
	least := int((time.Minute - waited) / time.Second) // the window cannot have less left
	if a.status != http.StatusTooManyRequests || a.Error.Code != "RateLimiting" || after < max(least, 1) || after > 60 ||
		a.header.Get("x-ms-user-quota-remaining") != "0" || a.header.Get("x-ms-user-quota-resets-after") != fmtDuration(time.Duration(after)*time.Second) {
		t.Fatalf("over quota after %v: %d %s Retry-After %q headers %v", waited, a.status, a.Error.Code, a.header.Get("Retry-After"), a.header)
	}
	passesAgain(t, c)
	if got := fmtDuration(3*time.Hour + 2*time.Minute + 1500*time.Millisecond); got != "03:02:02" {
		t.Errorf("fmtDuration: %s", got)
	}
}

// passesAgain: with one query per second, a caller throttled once is
// admitted again later, by the window's end alone.
func passesAgain(t *testing.T, c *client) {
	t.Helper()
	c.emu.SetGraphQuota(1, time.Second)
	throttled := false
	deadline := time.Now().Add(time.Minute)
	for {
		switch c.graph(inAB("Resources")).status {
		case http.StatusTooManyRequests:
			throttled = true
		case http.StatusOK:
			if throttled {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no throttled query passed again within a minute (throttled: %v)", throttled)
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not synchronisation
	}
}

// TestGraphFaults: faults queued for Resource Graph come before the
// answer, in order, and the quota headers still come with them.
func TestGraphFaults(t *testing.T) {
	c := start(t)
	estate(t, c.emu)
	c.emu.InjectGraphFault(Fault{Kind: FaultStatus, Status: 500, Code: "InternalServerError", Message: "boom", Times: 1})
	c.emu.InjectGraphFault(Fault{Kind: FaultRaw, Body: `{"count":1,"data":[{"id":"x"}]}`, Times: 1})
	a := c.graph(inAB("Resources"))
	if a.status != 500 || a.Error.Code != "InternalServerError" || a.header.Get("x-ms-user-quota-remaining") == "" {
		t.Fatalf("first: %d %s", a.status, a.Error.Code)
	}
	if a = c.graph(inAB("Resources")); a.status != 200 || len(a.Data) != 1 || a.Data[0]["id"] != "x" {
		t.Fatalf("second: %d %v", a.status, a.Data)
	}
	if a = c.graph(inAB("Resources")); a.status != 200 || len(a.Data) != 7 {
		t.Fatalf("third: %d %d rows", a.status, len(a.Data))
	}
	c.emu.InjectGraphFault(Fault{Kind: FaultStatus, Status: 503})
	c.emu.ClearDiscoveryFaults()
	if a = c.graph(inAB("Resources")); a.status != 200 {
		t.Fatalf("after clear: %d", a.status)
	}
	if n := len(c.emu.GraphQueries()); n != 2 || c.emu.GraphRequests() != 4 {
		t.Fatalf("%d queries logged of %d requests", n, c.emu.GraphRequests())
	}
}

// TestManagementGroupScope: a management group searches its
// subscriptions; the tenant scope every one; a Deleted subscription holds
// nothing.
func TestManagementGroupScope(t *testing.T) {
	c := start(t)
	estate(t, c.emu)
	c.emu.Add(Resource{Subscription: subC, ResourceGroup: "rg", Name: "c1"})
	c.emu.AddManagementGroup("Prod-MG", subB, subC)
	q := "Resources | where type =~ 'microsoft.batch/batchaccounts' | project id, name | order by id asc"
	if a := c.graph(map[string]any{"managementGroups": []string{"prod-mg"}, "query": q}); a.names() != "b5,c1" {
		t.Fatalf("management group: %d %q", a.status, a.names())
	}
	if a := c.graph(map[string]any{"query": q}); a.names() != "b1,b2,b3,b4,b5,c1" {
		t.Fatalf("tenant: %q", a.names())
	}
	if err := c.emu.SetSubscriptionState(subC, StateDeleted); err != nil {
		t.Fatal(err)
	}
	if a := c.graph(map[string]any{"managementGroups": []string{"Prod-MG"}, "query": q}); a.names() != "b5" {
		t.Fatalf("deleted subscription: %q", a.names())
	}
	if err := c.emu.SetSubscriptionState(subC, "Gone"); err == nil {
		t.Fatal("an unknown state was accepted")
	}
}

func TestTokenize(t *testing.T) {
	toks, err := tokenize(`Resources|where tags['a\\b\'c']in~('x')`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tk := range toks {
		got = append(got, tk.kind+":"+tk.text)
	}
	want := []string{"identifier:Resources", "operator:|", "identifier:where", "identifier:tags", "operator:[",
		`string:a\b'c`, "operator:]", "operator:in~", "operator:(", "string:x", "operator:)", "end of query:"}
	if !slices.Equal(got, want) {
		t.Fatalf("tokens %q\nwant %q", got, want)
	}
}

// TestGraphQuotaSpentElsewhere: FaultQuota answers as the quota does when
// another client of the identity used it: 429 RateLimiting, none left,
// when it resets, and Retry-After only when the fault sets it.
func TestGraphQuotaSpentElsewhere(t *testing.T) {
	c := start(t)
	estate(t, c.emu)
	c.emu.InjectGraphFaultFor("", Fault{Kind: FaultQuota, RetryAfter: 2, Times: 1})
	c.emu.InjectGraphFaultFor("", Fault{Kind: FaultQuota, Times: 1})
	for _, want := range []struct{ retryAfter, reset string }{{"2", "00:00:02"}, {"", "00:00:01"}} {
		a := c.graph(inAB("Resources"))
		if a.status != http.StatusTooManyRequests || a.Error.Code != "RateLimiting" || a.header.Get("Retry-After") != want.retryAfter ||
			a.header.Get("x-ms-user-quota-remaining") != "0" || a.header.Get("x-ms-user-quota-resets-after") != want.reset {
			t.Fatalf("%d %s headers %v, want Retry-After %q resets %s", a.status, a.Error.Code, a.header, want.retryAfter, want.reset)
		}
	}
	if a := c.graph(inAB("Resources")); a.status != http.StatusOK {
		t.Fatalf("after the faults: %d", a.status)
	}
}

package azure

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keysync/keysync/config"
	"github.com/keysync/keysync/fault"
	"github.com/keysync/keysync/internal/armemu"
	"github.com/keysync/keysync/sources"
)

// Discovery end to end: Source.Discover against the package's emulator,
// which serves Resource Graph, GET /subscriptions and the list APIs from
// its own reading of Azure's specs.

var engines = []string{config.DiscoveryResourceGraph, config.DiscoveryARMList}

var subSeq atomic.Int64

// newSub is a subscription id no other test uses, so that tests sharing
// the emulator do not see each other's resources.
func newSub() string {
	n := subSeq.Add(1)
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", 0xd15c0000+n, n)
}

// discoverSource is a source on the emulator with a quota that does not
// get in the way; the emulator's discovery settings are restored after
// the test.
func discoverSource(t *testing.T) *Source {
	t.Helper()
	emu.SetGraphQuota(100_000, time.Minute)
	t.Cleanup(func() {
		emu.SetGraphQuota(0, 0)
		emu.SetGraphPageSize(0)
		emu.SetListPageSize(0)
		emu.SetGraphSubscriptionLimitFor("", 0)
		emu.ClearDiscoveryFaults()
	})
	return newSource(t, emuOpts)
}

// addTagged adds a resource of typ with tags.
func addTagged(t *testing.T, typ, sub, rg, name string, tags map[string]string) {
	t.Helper()
	r := armemu.Resource{Type: typ, Subscription: sub, ResourceGroup: rg, Name: name}
	if typ == "eventhubs" || typ == "servicebus" {
		r.Rule = "RootManageSharedAccessKey"
	}
	emu.Add(r)
	if tags != nil {
		if err := emu.SetTags(r, tags); err != nil {
			t.Fatal(err)
		}
	}
}

func names(found []sources.Found) string {
	var out []string
	for _, f := range found {
		out = append(out, f.Account.Name)
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

// TestDiscoverTagSelectors: equals, present, absent and not-equals select
// the same accounts with either engine, values compared without case, and
// copy_tags brings back only the tags asked for, looked up without case
// and named as copy_tags names them.
func TestDiscoverTagSelectors(t *testing.T) {
	s := discoverSource(t)
	sub := newSub()
	addTagged(t, "batch", sub, "rg", "tag1", map[string]string{"keysync": "true", "Owner": "team-a", "other": "x"})
	addTagged(t, "batch", sub, "rg", "tag2", map[string]string{"keysync": "TRUE"})
	addTagged(t, "batch", sub, "rg", "tag3", map[string]string{"keysync": "no"})
	addTagged(t, "batch", sub, "rg", "tag4", map[string]string{"keysync": ""})
	addTagged(t, "batch", sub, "rg", "tag5", map[string]string{"it's": `A\b'C`})
	addTagged(t, "storage", sub, "rg", "tag6", map[string]string{"keysync": "true"})
	tests := []struct {
		name string
		tag  sources.TagMatch
		want string
	}{
		{"equals", sources.TagMatch{Key: "keysync", Op: sources.TagEquals, Value: "True"}, "tag1,tag2"},
		{"present", sources.TagMatch{Key: "keysync", Op: sources.TagPresent}, "tag1,tag2,tag3"},
		{"absent", sources.TagMatch{Key: "keysync", Op: sources.TagAbsent}, "tag4,tag5"},
		{"not equals", sources.TagMatch{Key: "keysync", Op: sources.TagNotEquals, Value: "true"}, "tag3,tag4,tag5"},
		{"quotes and backslashes", sources.TagMatch{Key: "it's", Op: sources.TagEquals, Value: `a\b'c`}, "tag5"},
	}
	for _, engine := range engines {
		for _, tt := range tests {
			t.Run(engine+"/"+tt.name, func(t *testing.T) {
				sel := sources.Selector{Type: "batch", Subscriptions: []string{sub}, Tags: []sources.TagMatch{tt.tag}, KeepTags: []string{"owner"}}
				found, _, err := s.Discover(context.Background(), sel, engine)
				if err != nil || names(found) != tt.want {
					t.Fatalf("found %q, want %q (%v)", names(found), tt.want, err)
				}
				for _, f := range found {
					if f.Account.Name == "tag1" && (len(f.Tags) != 1 || f.Tags["owner"] != "team-a") {
						t.Fatalf("tag1 kept tags %v, want only Owner, under copy_tags' name owner", f.Tags)
					}
				}
			})
		}
	}
}

// TestDiscoverTagNamesIgnoreCase: ARM's tag names compare without case,
// and a resource may keep the case its author typed (Keysync, OWNER);
// every tag condition finds it so, with either engine, while Resource
// Graph's tags['keysync'] alone would not (armemu TestGraphTagNameCase).
func TestDiscoverTagNamesIgnoreCase(t *testing.T) {
	s := discoverSource(t)
	sub := newSub()
	addTagged(t, "batch", sub, "rg", "case1", map[string]string{"Keysync": "True", "Owner": "a"})
	addTagged(t, "batch", sub, "rg", "case2", map[string]string{"KEYSYNC": "true", "OWNER": "b", "Env": "dev"})
	addTagged(t, "batch", sub, "rg", "case3", map[string]string{"keysync": "true", "owner": "c", "ENV": "Prod"})
	addTagged(t, "batch", sub, "rg", "case4", map[string]string{"KeySync": "true", "owner": "d", "LEGACY": "yes"})
	addTagged(t, "batch", sub, "rg", "case5", map[string]string{"keySYNC": "true"})
	sel := sources.Selector{Type: "batch", Subscriptions: []string{sub}, KeepTags: []string{"owner"}, Tags: []sources.TagMatch{
		{Key: "keysync", Op: sources.TagEquals, Value: "TRUE"},
		{Key: "Owner", Op: sources.TagPresent},
		{Key: "env", Op: sources.TagNotEquals, Value: "prod"},
		{Key: "legacy", Op: sources.TagAbsent},
	}}
	for _, engine := range engines {
		found, skipped, err := s.Discover(context.Background(), sel, engine)
		if err != nil || len(skipped) != 0 || names(found) != "case1,case2" {
			t.Fatalf("%s: found %q, skipped %v (%v)", engine, names(found), skipped, err)
		}
		for _, f := range found {
			if want := map[string]string{"case1": "a", "case2": "b"}[f.Account.Name]; f.Tags["owner"] != want {
				t.Fatalf("%s: %s copied %v, want owner %q as written", engine, f.Account.Name, f.Tags, want)
			}
		}
	}
}

// TestDiscoverResourceGroups: only the groups named, compared without
// case, though Resource Graph's column is lower-case and ARM's id is not.
func TestDiscoverResourceGroups(t *testing.T) {
	s := discoverSource(t)
	sub := newSub()
	addTagged(t, "batch", sub, "Keep-RG", "grp1", nil)
	addTagged(t, "batch", sub, "keep-rg", "grp2", nil)
	addTagged(t, "batch", sub, "other", "grp3", nil)
	for _, engine := range engines {
		sel := sources.Selector{Type: "batch", Subscriptions: []string{sub}, ResourceGroups: []string{"KEEP-rg"}}
		found, _, err := s.Discover(context.Background(), sel, engine)
		if err != nil || names(found) != "grp1,grp2" {
			t.Fatalf("%s: found %q (%v)", engine, names(found), err)
		}
		if found[0].Account.ResourceGroup != "Keep-RG" {
			t.Fatalf("%s: resource group %q, want the id's own case", engine, found[0].Account.ResourceGroup)
		}
	}
}

// TestDiscoverEveryType: each of the ten types is found by both engines
// (ARM's list at keysync's api-version, which the emulator checks).
func TestDiscoverEveryType(t *testing.T) {
	s := discoverSource(t)
	sub := newSub()
	for _, typ := range sources.TypeNames() {
		addTagged(t, typ, sub, "rg", "every"+typ, nil)
	}
	for _, engine := range engines {
		for _, typ := range sources.TypeNames() {
			found, _, err := s.Discover(context.Background(), sources.Selector{Type: typ, Subscriptions: []string{sub}}, engine)
			if err != nil || names(found) != "every"+typ || found[0].Account.Type != typ {
				t.Errorf("%s %s: found %q (%v)", engine, typ, names(found), err)
			}
		}
	}
}

// TestDiscoverPaging: several pages, each followed with the same query
// and scope ($skipToken) or by nextLink, nothing lost or repeated.
func TestDiscoverPaging(t *testing.T) {
	s := discoverSource(t)
	emu.SetGraphPageSize(2)
	emu.SetListPageSize(2)
	sub := newSub()
	var want []string
	for i := range 7 {
		name := fmt.Sprintf("page%d", i)
		addTagged(t, "batch", sub, "rg", name, nil)
		want = append(want, name)
	}
	for _, engine := range engines {
		before := len(emu.RequestLog())
		found, _, err := s.Discover(context.Background(), sources.Selector{Type: "batch", Subscriptions: []string{sub}}, engine)
		if err != nil || names(found) != strings.Join(want, ",") {
			t.Fatalf("%s: found %q (%v)", engine, names(found), err)
		}
		if n := len(emu.RequestLog()) - before; n != 4 {
			t.Fatalf("%s: %d requests for 7 rows in pages of 2, want 4", engine, n)
		}
	}
	q := emu.GraphQueries()
	q = q[len(q)-4:]
	for i, r := range q {
		if r.Query != q[0].Query || !slices.Equal(r.Subscriptions, q[0].Subscriptions) || (i > 0) != (r.Options.SkipToken != "") {
			t.Fatalf("page %d changed the query or scope, or its token: %+v", i, r)
		}
	}
}

// TestDiscoverEverySubscription: with no subscription named, every one
// the identity sees that can act is searched; a Disabled or Deleted one is
// not, though Resource Graph would still answer for it.
func TestDiscoverEverySubscription(t *testing.T) {
	s := discoverSource(t)
	emu.SetListPageSize(3)
	tag := map[string]string{"suite": t.Name()}
	state := map[string]string{"on": armemu.StateEnabled, "warned": armemu.StateWarned, "pastdue": armemu.StatePastDue,
		"off": armemu.StateDisabled, "gone": armemu.StateDeleted}
	for name, st := range state {
		sub := newSub()
		addTagged(t, "batch", sub, "rg", "sub"+name, tag)
		if err := emu.SetSubscriptionState(sub, st); err != nil {
			t.Fatal(err)
		}
	}
	sel := sources.Selector{Type: "batch", Tags: []sources.TagMatch{{Key: "suite", Op: sources.TagEquals, Value: t.Name()}}}
	for _, engine := range engines {
		found, _, err := s.Discover(context.Background(), sel, engine)
		if err != nil || names(found) != "subon,subpastdue,subwarned" {
			t.Fatalf("%s: found %q (%v)", engine, names(found), err)
		}
	}
}

// TestDiscoverManagementGroup: Resource Graph searches the group's
// subscriptions in one scope; ARM's lists cannot, and say so.
func TestDiscoverManagementGroup(t *testing.T) {
	s := discoverSource(t)
	in1, in2, out := newSub(), newSub(), newSub()
	emu.AddManagementGroup("keysync-mg", in1, in2)
	for i, sub := range []string{in1, in2, out} {
		addTagged(t, "batch", sub, "rg", fmt.Sprintf("mg%d", i), nil)
	}
	sel := sources.Selector{Type: "batch", ManagementGroup: "keysync-mg"}
	found, _, err := s.Discover(context.Background(), sel, config.DiscoveryResourceGraph)
	if err != nil || names(found) != "mg0,mg1" {
		t.Fatalf("found %q (%v)", names(found), err)
	}
	if q := emu.GraphQueries(); !slices.Equal(q[len(q)-1].ManagementGroups, []string{"keysync-mg"}) || len(q[len(q)-1].Subscriptions) != 0 {
		t.Fatalf("query scope %+v", q[len(q)-1])
	}
	if _, _, err := s.Discover(context.Background(), sel, config.DiscoveryARMList); fault.Code(err) != "InvalidSelector" {
		t.Fatalf("arm-list with a management group: %v", err)
	}
}

// TestDiscoverHonoursQuota: with a quota of 2 queries a window, the third
// page waits for the reset the second answer announced, and no query is
// throttled. The wait is not a request: it may outlast the request
// timeout. A 5 s window and a 2 s request timeout give each query 2 s to
// answer, and leave a wait longer than the timeout unless the first two
// queries took 3 s together.
func TestDiscoverHonoursQuota(t *testing.T) {
	const window = 5 * time.Second
	discoverSource(t)
	o := emuOpts
	o.Timeout = config.Duration{Duration: 2 * time.Second}
	s := newSource(t, o)
	emu.SetGraphPageSize(1)
	sub := newSub()
	for i := range 3 {
		addTagged(t, "batch", sub, "rg", fmt.Sprintf("quota%d", i), nil)
	}
	emu.SetGraphQuota(2, window)
	before := len(emu.RequestLog())
	found, _, err := s.Discover(context.Background(), sources.Selector{Type: "batch", Subscriptions: []string{sub}}, config.DiscoveryResourceGraph)
	if err != nil || len(found) != 3 {
		t.Fatalf("found %d (%v)", len(found), err)
	}
	var times []time.Time
	for _, r := range emu.RequestLog()[before:] {
		if strings.EqualFold(r.Path, graphPath) {
			times = append(times, r.Time)
		}
	}
	if len(times) != 3 {
		t.Fatalf("%d queries for 3 pages, want 3 (none throttled)", len(times))
	}
	if gap := times[2].Sub(times[0]); gap < window {
		t.Fatalf("the third page came %v after the first, inside the window of 2", gap)
	}
}

// TestDiscoverFailsMidway: a failure on any page, of either engine, fails
// the whole discovery (a half result would remove the rest), transient
// for a 5xx.
func TestDiscoverFailsMidway(t *testing.T) {
	s := discoverSource(t)
	emu.SetGraphPageSize(1)
	emu.SetListPageSize(1)
	sub := newSub()
	for i := range 3 {
		addTagged(t, "batch", sub, "rg", fmt.Sprintf("mid%d", i), nil)
	}
	fail := armemu.Fault{Kind: armemu.FaultStatus, Status: 500, Code: "InternalServerError", Message: "boom", Times: 1, Skip: 1}
	emu.InjectGraphFault(fail)
	emu.InjectListFault(sub, "batch", fail)
	for _, engine := range engines {
		found, _, err := s.Discover(context.Background(), sources.Selector{Type: "batch", Subscriptions: []string{sub}}, engine)
		if found != nil || !fault.Transient(err) || fault.Code(err) != "InternalServerError" {
			t.Fatalf("%s: %d found, err %v", engine, len(found), err)
		}
	}
}

// TestDiscoverRefusesHostileAnswers: answers that are not what was asked
// for fail the discovery, permanently, and a nextLink off ARM's endpoint
// or path is not followed (it would carry ARM's token elsewhere). A bad
// row is skipped, not the answer (TestDiscoverSkipsHostileRows).
func TestDiscoverRefusesHostileAnswers(t *testing.T) {
	s := discoverSource(t)
	sub := newSub()
	graph := map[string]string{
		"no count":   `{"resultTruncated":"false","data":[]}`,
		"long token": `{"count":0,"resultTruncated":"false","data":[],"$skipToken":"` + strings.Repeat("x", 5000) + `"}`,
		"not json":   `<html>`,
	}
	for name, body := range graph {
		emu.InjectGraphFault(armemu.Fault{Kind: armemu.FaultRaw, Body: body, Times: 1})
		_, _, err := s.Discover(context.Background(), sources.Selector{Type: "batch", Subscriptions: []string{sub}}, config.DiscoveryResourceGraph)
		if c, ok := fault.Of(err); !ok || c.Transient || (name != "not json" && c.Code != "MalformedAnswer") {
			t.Errorf("graph %s: %+v (%v)", name, c, err)
		}
	}
	for _, link := range []string{"https://attacker.example/subscriptions/x", "http://" + strings.TrimPrefix(emu.URL(), "https://") + "/subscriptions/", emu.URL() + "/elsewhere"} {
		emu.InjectListFault(sub, "batch", armemu.Fault{Kind: armemu.FaultRaw, Body: `{"value":[],"nextLink":"` + link + `"}`, Times: 1})
		before := len(emu.RequestLog())
		_, _, err := s.Discover(context.Background(), sources.Selector{Type: "batch", Subscriptions: []string{sub}}, config.DiscoveryARMList)
		if fault.Code(err) != "MalformedAnswer" || len(emu.RequestLog())-before != 1 {
			t.Errorf("nextLink %s: %v after %d requests", link, err, len(emu.RequestLog())-before)
		}
	}
	emu.InjectSubscriptionsFault(armemu.Fault{Kind: armemu.FaultRaw, Body: `{"value":[],"nextLink":"https://attacker.example/subscriptions"}`, Times: 1})
	if _, _, err := s.Discover(context.Background(), sources.Selector{Type: "batch"}, config.DiscoveryResourceGraph); fault.Code(err) != "MalformedAnswer" {
		t.Errorf("subscriptions nextLink elsewhere: %v", err)
	}
}

// TestDiscoverBatchesSubscriptions: 300 subscriptions go to Resource Graph
// in two scopes, 250 and 50, each paged on its own; every resource comes
// back once.
func TestDiscoverBatchesSubscriptions(t *testing.T) {
	s := discoverSource(t)
	emu.SetGraphPageSize(2)
	subs := make([]string, 300)
	for i := range subs {
		subs[i] = newSub()
	}
	for _, i := range []int{1, 2, 260} {
		for j := range 3 {
			addTagged(t, "batch", subs[i], "rg", fmt.Sprintf("batch%d%d", i, j), nil)
		}
	}
	before := len(emu.GraphQueries())
	found, _, err := s.Discover(context.Background(), sources.Selector{Type: "batch", Subscriptions: subs}, config.DiscoveryResourceGraph)
	if err != nil || len(found) != 9 {
		t.Fatalf("found %d (%v)", len(found), err)
	}
	q := emu.GraphQueries()[before:]
	// 250 subscriptions: 6 rows in 3 pages; 50: 3 rows in 2 pages.
	var scopes []int
	for _, r := range q {
		scopes = append(scopes, len(r.Subscriptions))
	}
	if fmt.Sprint(scopes) != "[250 250 250 50 50]" || q[3].Options.SkipToken != "" || q[4].Options.SkipToken == "" {
		t.Fatalf("scopes of the queries %v", scopes)
	}
	for _, r := range q {
		if r.Options.ResultFormat != "objectArray" || r.Options.Top == nil || *r.Options.Top != 1000 {
			t.Fatalf("options %+v", r.Options)
		}
	}
}

// TestDiscoverMaxAccounts: a discovery that finds more resources than
// the selector's Max fails whole, with either engine (a short list would
// read as accounts gone); at Max it finds them all.
func TestDiscoverMaxAccounts(t *testing.T) {
	s := discoverSource(t)
	sub := newSub()
	for _, n := range []string{"max1", "max2", "max3"} {
		addTagged(t, "batch", sub, "rg", n, map[string]string{"bound": "yes"})
	}
	for _, engine := range engines {
		for _, tt := range []struct {
			max  int
			fail bool
		}{{2, true}, {3, false}} {
			sel := sources.Selector{Type: "batch", Subscriptions: []string{sub}, Max: tt.max,
				Tags: []sources.TagMatch{{Key: "bound", Op: sources.TagEquals, Value: "yes"}}}
			found, _, err := s.Discover(context.Background(), sel, engine)
			var se *sources.Error
			if tt.fail != (errors.As(err, &se) && se.Code == "TooManyResults") || (!tt.fail && names(found) != "max1,max2,max3") {
				t.Errorf("%s, max %d: found %q, %v", engine, tt.max, names(found), err)
			}
		}
	}
}

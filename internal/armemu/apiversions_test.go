package armemu

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestEveryTypeAtEveryAPIVersion: each type answers its keys and
// regenerate actions at every api-version its spec files define them in,
// the newest and the older ones alike, and refuses with ARM's CloudError a
// version it does not serve, naming every one it does.
func TestEveryTypeAtEveryAPIVersion(t *testing.T) {
	c := start(t)
	for _, name := range TypeNames() {
		t.Run(name, func(t *testing.T) {
			typ, r := Types[name], resourceOf(name)
			c.emu.Add(r)
			newestFirst := slices.SortedFunc(slices.Values(typ.APIVersions), func(a, b string) int { return strings.Compare(b, a) })
			if len(typ.APIVersions) == 0 || !slices.Equal(typ.APIVersions, newestFirst) {
				t.Fatalf("api-versions %v: want the newest first", typ.APIVersions)
			}
			value := slices.Sorted(maps.Keys(typ.Regenerate.Values))[0]
			for _, v := range typ.APIVersions {
				if status := c.post(r, typ.ListAction, v, nil, nil); status != http.StatusOK {
					t.Errorf("listKeys at %s: status %d", v, status)
				}
				if status := c.regenerateAt(r, typ, value, v); status != http.StatusOK && status != http.StatusAccepted {
					t.Errorf("regenerate at %s: status %d", v, status)
				}
			}
			var ce cloudErr
			status := c.post(r, typ.ListAction, "2099-01-01", nil, &ce)
			if status != http.StatusBadRequest || ce.Error.Code != "InvalidApiVersionParameter" {
				t.Fatalf("an api-version not served: %d %+v", status, ce)
			}
			for _, v := range typ.APIVersions {
				if !strings.Contains(ce.Error.Message, v) {
					t.Errorf("the refusal does not name %s: %s", v, ce.Error.Message)
				}
			}
		})
	}
}

// regenerateAt is regenerate at api-version v.
func (c *client) regenerateAt(r Resource, typ Type, value, v string) int {
	rg := typ.Regenerate
	if rg.InPath {
		return c.post(r, rg.Action+"/"+value, v, nil, nil)
	}
	return c.post(r, rg.Action, v, map[string]string{rg.BodyKey: value}, nil)
}

// TestPathSegmentsWithoutCase: ARM matches a path's literal segments
// without case, and Service Bus's 2026-01-01 spec spells its rules'
// segment AuthorizationRules: the keys and regenerate actions answer at
// either spelling, and at the provider's and action's in another case.
func TestPathSegmentsWithoutCase(t *testing.T) {
	c := start(t)
	typ, r := Types["servicebus"], resourceOf("servicebus")
	c.emu.Add(r)
	id := r.ID()
	for _, p := range []string{
		strings.Replace(id, "/authorizationRules/", "/AuthorizationRules/", 1) + "/listKeys",
		strings.Replace(id, "/authorizationRules/", "/AUTHORIZATIONRULES/", 1) + "/ListKeys",
		strings.Replace(strings.Replace(id, "/resourceGroups/", "/resourcegroups/", 1), "Microsoft.ServiceBus/namespaces", "microsoft.servicebus/Namespaces", 1) + "/listkeys",
	} {
		req := c.request(http.MethodPost, c.emu.URL()+p+"?api-version="+typ.APIVersions[0], nil)
		req.Header.Set("Authorization", "Bearer "+c.token)
		if status := c.do(req, nil); status != http.StatusOK {
			t.Errorf("POST %s: status %d", p, status)
		}
	}
	before, _ := c.emu.Get(r)
	b, _ := json.Marshal(map[string]string{"keyType": "SecondaryKey"})
	p := strings.Replace(id, "/authorizationRules/", "/AuthorizationRules/", 1) + "/regenerateKeys"
	req := c.request(http.MethodPost, c.emu.URL()+p+"?api-version="+typ.APIVersions[0], bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+c.token)
	if status := c.do(req, nil); status != http.StatusOK {
		t.Fatalf("POST %s: status %d", p, status)
	}
	after, _ := c.emu.Get(r)
	checkRenewed(t, typ, "secondaryKey", before, after)
}

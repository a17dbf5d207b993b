package armemu

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// client talks to a started emulator as a managed identity would.
type client struct {
	t     *testing.T
	emu   *Emulator
	http  *http.Client
	token string
}

func start(t *testing.T) *client {
	t.Helper()
	e := New()
	if err := e.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(e.CACertPEM())
	c := &client{t: t, emu: e, http: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}
	req := c.request(http.MethodGet, e.IdentityEndpoint()+"?api-version=2019-08-01&resource="+url.QueryEscape(DefaultAudience), nil)
	req.Header.Set("X-IDENTITY-HEADER", e.IdentityHeader)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if status := c.do(req, &tok); status != http.StatusOK {
		t.Fatalf("token: status %d", status)
	}
	c.token = tok.AccessToken
	return c
}

// request builds a request that ends with the test.
func (c *client) request(method, target string, body io.Reader) *http.Request {
	c.t.Helper()
	req, err := http.NewRequestWithContext(c.t.Context(), method, target, body)
	if err != nil {
		c.t.Fatal(err)
	}
	return req
}

// do sends req and decodes a JSON answer into out, when there is one.
func (c *client) do(req *http.Request, out any) int {
	c.t.Helper()
	status, _ := c.doH(req, out)
	return status
}

// doH is do, with the answer's headers.
func (c *client) doH(req *http.Request, out any) (int, http.Header) {
	c.t.Helper()
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if len(body) > 0 && out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			c.t.Fatalf("%s %s: %d, body is not JSON: %v", req.Method, req.URL.Path, resp.StatusCode, err)
		}
	}
	return resp.StatusCode, resp.Header
}

// post POSTs body (nil for none) to the resource's action at apiVersion.
func (c *client) post(r Resource, action, apiVersion string, body any, out any) int {
	c.t.Helper()
	status, _ := c.postH(r, action, apiVersion, body, out)
	return status
}

// postH is post, with the answer's headers.
func (c *client) postH(r Resource, action, apiVersion string, body any, out any) (int, http.Header) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req := c.request(http.MethodPost, c.emu.URL()+r.ID()+"/"+action+"?api-version="+apiVersion, rd)
	req.Header.Set("Authorization", "Bearer "+c.token)
	return c.doH(req, out)
}

// cloudErr is ARM's error envelope.
type cloudErr struct {
	Error struct{ Code, Message string }
}

// resourceOf makes a resource of type name, with a rule where the type has
// a child.
func resourceOf(name string) Resource {
	r := Resource{Type: name, Subscription: "sub-1", ResourceGroup: "rg-1", Name: name + "res"}
	if Types[name].Child != "" {
		r.Rule = "RootManageSharedAccessKey"
	}
	return r
}

// TestNoKeysyncImports: the emulator depends on nothing of keysync, so
// that it cannot take a fact from the code it tests.
func TestNoKeysyncImports(t *testing.T) {
	out, err := exec.CommandContext(t.Context(), "go", "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/keysync/keysync/") && dep != "github.com/keysync/keysync/internal/armemu" {
			t.Errorf("armemu depends on %s", dep)
		}
	}
}

// TestEveryTypeAnswersListKeys: each type answers its keys action at its
// api-version with exactly its documented fields, the account's keys, and
// refuses another api-version, none, another action and another method
// with the CloudError ARM gives.
func TestEveryTypeAnswersListKeys(t *testing.T) {
	c := start(t)
	for _, name := range TypeNames() {
		t.Run(name, func(t *testing.T) {
			typ, r := Types[name], resourceOf(name)
			a := c.emu.Add(r)
			var got map[string]any
			if status := c.post(r, typ.ListAction, typ.APIVersions[0], nil, &got); status != http.StatusOK {
				t.Fatalf("listKeys: status %d", status)
			}
			checkAnswer(t, typ, a, got)
			var ce cloudErr
			if status := c.post(r, typ.ListAction, "2015-01-01", nil, &ce); status != http.StatusBadRequest ||
				ce.Error.Code != "InvalidApiVersionParameter" || !strings.Contains(ce.Error.Message, typ.APIVersions[0]) {
				t.Errorf("wrong api-version: %d %+v", status, ce)
			}
			if status := c.post(r, typ.ListAction, "", nil, &ce); status != http.StatusBadRequest || ce.Error.Code != "MissingApiVersionParameter" {
				t.Errorf("no api-version: %d %+v", status, ce)
			}
			if status := c.post(r, "listSecrets", typ.APIVersions[0], nil, &ce); status != http.StatusNotFound || ce.Error.Code != "InvalidResourceType" {
				t.Errorf("unknown action: %d %+v", status, ce)
			}
			req := c.request(http.MethodGet, c.emu.URL()+r.ID()+"/"+typ.ListAction+"?api-version="+typ.APIVersions[0], nil)
			if status := c.do(req, &ce); status != http.StatusMethodNotAllowed {
				t.Errorf("GET: %d %+v", status, ce)
			}
		})
	}
}

// checkAnswer compares a listKeys answer with the account: the type's
// fields hold its keys, and nothing else is in the answer but the
// documented name, rule and id fields.
func checkAnswer(t *testing.T, typ Type, a Account, got map[string]any) {
	t.Helper()
	if typ.KeysArray {
		checkKeysArray(t, typ, a, got)
		return
	}
	want := map[string]any{}
	for _, f := range typ.Fields() {
		want[f] = a.Keys[f]
	}
	for f, v := range map[string]string{typ.NameField: a.Name, typ.RuleField: a.Rule, typ.IDField: a.ID()} {
		if f != "" {
			want[f] = v
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("answer fields %v, want %v (values compared too)", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
}

func checkKeysArray(t *testing.T, typ Type, a Account, got map[string]any) {
	t.Helper()
	keys, _ := got["keys"].([]any)
	if len(got) != 1 || len(keys) != len(typ.Keys) {
		t.Fatalf("answer %d fields, %d keys", len(got), len(keys))
	}
	for i, k := range keys {
		e, _ := k.(map[string]any)
		if e["keyName"] != typ.Keys[i] || e["value"] != a.Keys[typ.Keys[i]] || e["permissions"] != "Full" {
			t.Errorf("keys[%d] is not {keyName %s, its value, permissions Full}", i, typ.Keys[i])
		}
	}
}

// TestEveryTypeRegenerates: each name a type's regenerate action accepts
// renews exactly its key (and the connection string built on it), answered
// as the spec says; a name it does not accept changes nothing.
func TestEveryTypeRegenerates(t *testing.T) {
	c := start(t)
	for _, name := range TypeNames() {
		typ := Types[name]
		for _, value := range slices.Sorted(maps.Keys(typ.Regenerate.Values)) {
			t.Run(name+"/"+value, func(t *testing.T) {
				r := resourceOf(name)
				before := c.emu.Add(r)
				var got map[string]any
				status, h := c.regenerateH(r, typ, value, &got)
				if typ.Regenerate.Answer == AnswerAsync {
					status = c.finish(h)
				}
				if status != http.StatusOK {
					t.Fatalf("status %d", status)
				}
				after, _ := c.emu.Get(r)
				checkRenewed(t, typ, typ.Regenerate.Values[value], before, after)
				if typ.Regenerate.Answer == AnswerKeys {
					checkAnswer(t, typ, after, got)
				} else if got != nil {
					t.Errorf("a long-running regenerate answered a body: %v", slices.Sorted(maps.Keys(got)))
				}
			})
		}
		t.Run(name+"/unknown", func(t *testing.T) {
			r := resourceOf(name)
			before := c.emu.Add(r)
			var ce cloudErr
			if status := c.regenerate(r, typ, "Tertiary", &ce); status != http.StatusBadRequest {
				t.Errorf("status %d %+v", status, ce)
			}
			if after, _ := c.emu.Get(r); !maps.Equal(before.Keys, after.Keys) {
				t.Error("a refused regenerate changed a key")
			}
		})
	}
}

// regenerate calls the type's regenerate action naming value.
func (c *client) regenerate(r Resource, typ Type, value string, out any) int {
	status, _ := c.regenerateH(r, typ, value, out)
	return status
}

// regenerateH is regenerate, with the answer's headers.
func (c *client) regenerateH(r Resource, typ Type, value string, out any) (int, http.Header) {
	rg := typ.Regenerate
	if rg.InPath {
		return c.postH(r, rg.Action+"/"+value, typ.APIVersions[0], nil, out)
	}
	return c.postH(r, rg.Action, typ.APIVersions[0], map[string]string{rg.BodyKey: value}, out)
}

// checkRenewed: field and its connection string changed, nothing else.
func checkRenewed(t *testing.T, typ Type, field string, before, after Account) {
	t.Helper()
	for f, v := range after.Keys {
		want := f == field || f == typ.ConnStrings[field]
		if changed := before.Keys[f] != v; changed != want {
			t.Errorf("%s changed %t, want %t", f, changed, want)
		}
	}
}

// TestEveryTypeDisabledKeys: with key authentication off, the keys and
// regenerate actions both answer the type's own CloudError.
func TestEveryTypeDisabledKeys(t *testing.T) {
	c := start(t)
	for _, name := range TypeNames() {
		t.Run(name, func(t *testing.T) {
			typ, r := Types[name], resourceOf(name)
			c.emu.Add(r)
			if err := c.emu.SetKeysDisabled(r, true); err != nil {
				t.Fatal(err)
			}
			var ce cloudErr
			if status := c.post(r, typ.ListAction, typ.APIVersions[0], nil, &ce); status != typ.Disabled.Status || ce.Error.Code != typ.Disabled.Code {
				t.Errorf("listKeys: %d %+v", status, ce)
			}
			value := slices.Sorted(maps.Keys(typ.Regenerate.Values))[0]
			if status := c.regenerate(r, typ, value, &ce); status != typ.Disabled.Status || ce.Error.Code != typ.Disabled.Code {
				t.Errorf("regenerate: %d %+v", status, ce)
			}
		})
	}
}

// TestAdminAPI: the admin API the demo scripts use creates resources of
// any type (Batch when none is named), renews a key by field or by the
// spec's name, and shows fingerprints, never keys.
func TestAdminAPI(t *testing.T) {
	c := start(t)
	admin := func(path string, body adminRequest) int {
		b, _ := json.Marshal(body)
		req := c.request(http.MethodPost, c.emu.URL()+"/_emulator/"+path, bytes.NewReader(b))
		return c.do(req, nil)
	}
	batch := adminRequest{SubscriptionID: "s", ResourceGroup: "rg", Name: "demo"}
	storage := adminRequest{Type: "storage", SubscriptionID: "s", ResourceGroup: "rg", Name: "demostore", KeyName: "key2"}
	for _, step := range []struct {
		path string
		req  adminRequest
		want int
	}{
		{"accounts", batch, http.StatusNoContent},
		{"accounts", storage, http.StatusNoContent},
		{"accounts", adminRequest{Type: "nosuch", Name: "x"}, http.StatusNotFound},
		{"regenerate", adminRequest{SubscriptionID: "s", ResourceGroup: "rg", Name: "demo", KeyName: "Secondary"}, http.StatusNoContent},
		{"regenerate", storage, http.StatusNoContent},
		{"regenerate", adminRequest{SubscriptionID: "s", ResourceGroup: "rg", Name: "demo", KeyName: "tertiary"}, http.StatusNotFound},
	} {
		if got := admin(step.path, step.req); got != step.want {
			t.Errorf("%s %+v: status %d, want %d", step.path, step.req, got, step.want)
		}
	}
	checkAdminList(t, c)
}

func checkAdminList(t *testing.T, c *client) {
	t.Helper()
	req := c.request(http.MethodGet, c.emu.URL()+"/_emulator/accounts", nil)
	var views []accountView
	c.do(req, &views)
	if len(views) != 2 {
		t.Fatalf("%d accounts listed", len(views))
	}
	for _, v := range views {
		a, _ := c.emu.Get(Resource{Type: v.Type, Subscription: v.SubscriptionID, ResourceGroup: v.ResourceGroup, Name: v.Name})
		keys := Types[v.Type].Keys
		if v.Primary != Fingerprint(a.Keys[keys[0]]) || v.Secondary != Fingerprint(a.Keys[keys[1]]) || len(a.History) != 3 {
			t.Errorf("%s: fingerprints do not match, or the key was not renewed once (%d values)", v.Name, len(a.History))
		}
		for _, k := range a.History {
			if strings.Contains(fmt.Sprint(v), k) {
				t.Errorf("%s: the admin list shows a key", v.Name)
			}
		}
	}
}

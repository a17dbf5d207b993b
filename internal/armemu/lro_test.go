package armemu

import (
	"maps"
	"net/http"
	"strings"
	"testing"
)

// operationAnswer is a status resource.
type operationAnswer struct {
	Status string
	Error  struct{ Code, Message string }
}

// getOp reads an operation URL with the client's token.
func (c *client) getOp(url string, out any) (int, http.Header) {
	c.t.Helper()
	req := c.request(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	return c.doH(req, out)
}

// finish reads an accepted operation's status until it ends (at most 10
// reads) and answers 200 when it succeeded.
func (c *client) finish(h http.Header) int {
	c.t.Helper()
	for range 10 {
		var st operationAnswer
		if status, _ := c.getOp(h.Get("Azure-AsyncOperation"), &st); status != http.StatusOK {
			return status
		}
		switch st.Status {
		case statusSucceeded:
			return http.StatusOK
		case statusFailed:
			return http.StatusConflict
		}
	}
	return http.StatusRequestTimeout
}

// TestLongRunningRegenerate: Cosmos DB's and SignalR's regenerate answer
// 202 with Azure-AsyncOperation, Location and Retry-After; the status
// answers InProgress for the set number of reads, during which no key has
// changed, then Succeeded with the key renewed; Location answers 202 then
// 204. A failed operation changes no key; a hanging one never ends.
func TestLongRunningRegenerate(t *testing.T) {
	c := start(t)
	c.emu.SetOperationReads(3, "0")
	for _, name := range []string{"cosmosdb", "signalr"} {
		typ := Types[name]
		field, value := typ.Keys[1], ""
		for v, f := range typ.Regenerate.Values {
			if f == field {
				value = v
			}
		}
		t.Run(name, func(t *testing.T) {
			r := resourceOf(name)
			before := c.emu.Add(r)
			status, h := c.regenerateH(r, typ, value, nil)
			if status != http.StatusAccepted || h.Get("Retry-After") != "0" || !strings.HasPrefix(h.Get("Azure-AsyncOperation"), "https://") {
				t.Fatalf("status %d, headers %v", status, h)
			}
			if loc, _ := c.getOp(h.Get("Location"), nil); loc != http.StatusAccepted {
				t.Fatalf("location while running: %d", loc)
			}
			for i := range 2 {
				var st operationAnswer
				if c.getOp(h.Get("Azure-AsyncOperation"), &st); st.Status != statusInProgress {
					t.Fatalf("read %d: %q", i, st.Status)
				}
				if now, _ := c.emu.Get(r); !maps.Equal(now.Keys, before.Keys) {
					t.Fatal("a key changed while the operation ran")
				}
			}
			if c.finish(h) != http.StatusOK {
				t.Fatal("the operation did not succeed")
			}
			after, _ := c.emu.Get(r)
			checkRenewed(t, typ, field, before, after)
			if loc, _ := c.getOp(h.Get("Location"), nil); loc != http.StatusNoContent {
				t.Errorf("location after success: %d", loc)
			}
		})
		t.Run(name+"/faults", func(t *testing.T) {
			r := resourceOf(name)
			before := c.emu.Add(r)
			c.emu.InjectFault(r, Fault{Kind: FaultOperationFailed, Code: "Conflict", Message: "busy", Times: 1})
			_, h := c.regenerateH(r, typ, value, nil)
			var st operationAnswer
			for range 4 {
				c.getOp(h.Get("Azure-AsyncOperation"), &st)
			}
			if st.Status != statusFailed || st.Error.Code != "Conflict" {
				t.Fatalf("failed operation: %+v", st)
			}
			c.emu.InjectFault(r, Fault{Kind: FaultOperationHangs, Times: 1})
			_, h = c.regenerateH(r, typ, value, nil)
			if c.finish(h) != http.StatusRequestTimeout {
				t.Fatal("a hanging operation ended")
			}
			if after, _ := c.emu.Get(r); !maps.Equal(after.Keys, before.Keys) {
				t.Fatal("a failed or hanging operation changed a key")
			}
		})
	}
}

// TestOperationURLsNeedAToken: an operation is read with ARM's bearer
// token, like every ARM request, and an unknown one is 404.
func TestOperationURLsNeedAToken(t *testing.T) {
	c := start(t)
	r := resourceOf("cosmosdb")
	c.emu.Add(r)
	_, h := c.regenerateH(r, Types["cosmosdb"], "primary", nil)
	req := c.request(http.MethodGet, h.Get("Azure-AsyncOperation"), nil)
	if status := c.do(req, nil); status != http.StatusUnauthorized {
		t.Errorf("no token: %d", status)
	}
	if status, _ := c.getOp(strings.Replace(h.Get("Azure-AsyncOperation"), "operationStatuses/", "operationStatuses/x", 1), nil); status != http.StatusNotFound {
		t.Errorf("unknown operation: %d", status)
	}
}

// TestLongRunningRegenerateEvent: a long-running regenerate publishes its
// ResourceActionSuccess when the operation succeeds, not when it is
// accepted, and a failed one publishes nothing.
func TestLongRunningRegenerateEvent(t *testing.T) {
	c, rc := newGrid(t)
	c.emu.SetOperationReads(1, "0")
	r := resourceOf("signalr")
	c.emu.Add(r)
	subscribe(t, c.emu, rc, EventSubscription{Schema: SchemaEventGrid})
	c.emu.InjectFault(r, Fault{Kind: FaultOperationFailed, Code: "Conflict", Times: 1})
	_, failed := c.regenerateH(r, Types["signalr"], "Secondary", nil)
	if c.finish(failed) != http.StatusConflict {
		t.Fatal("the operation did not fail")
	}
	_, h := c.regenerateH(r, Types["signalr"], "Primary", nil)
	var st operationAnswer
	c.getOp(h.Get("Azure-AsyncOperation"), &st)
	if st.Status != statusInProgress || len(rc.notifications()) != 0 {
		t.Fatalf("%q, %d deliveries before the operation ended", st.Status, len(rc.notifications()))
	}
	if c.finish(h) != http.StatusOK {
		t.Fatal("the operation did not succeed")
	}
	waitFor(t, "the delivery", func() bool { return len(rc.notifications()) == 1 })
	evs := rc.notifications()[0].Events
	if len(evs) != 1 || evs[0].Type != EventResourceActionSuccess || evs[0].Subject != r.ID() ||
		evs[0].Data.OperationName != "Microsoft.SignalRService/signalR/regenerateKey/action" {
		t.Fatalf("events %+v", evs)
	}
}

// TestOperationElsewhere: under FaultOperationElsewhere a long-running
// regenerate answers 202 with Operation-Location only; the operation
// succeeds, renews the key, and its status names a resourceLocation on
// another host.
func TestOperationElsewhere(t *testing.T) {
	c := start(t)
	c.emu.SetOperationReads(1, "0")
	r := resourceOf("cosmosdb")
	before := c.emu.Add(r)
	c.emu.InjectFault(r, Fault{Kind: FaultOperationElsewhere, Location: "https://elsewhere.example/x", Times: 1})
	status, h := c.regenerateH(r, Types["cosmosdb"], "secondary", nil)
	op := h.Get("Operation-Location")
	if status != http.StatusAccepted || op == "" || h.Get("Azure-AsyncOperation") != "" || h.Get("Location") != "" {
		t.Fatalf("status %d, headers %v", status, h)
	}
	var st struct{ Status, ResourceLocation string }
	for range 3 {
		c.getOp(op, &st)
	}
	if st.Status != statusSucceeded || st.ResourceLocation != "https://elsewhere.example/x" {
		t.Fatalf("status %+v", st)
	}
	after, _ := c.emu.Get(r)
	checkRenewed(t, Types["cosmosdb"], "secondaryMasterKey", before, after)
}

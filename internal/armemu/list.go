package armemu

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Each type's list-by-subscription operation,
// GET /subscriptions/{subscriptionId}/providers/{Provider}, is
// x-ms-pageable {nextLinkName: "nextLink"} and answers {value, nextLink}.
// The emulator serves it at the api-versions of the type's keys action,
// whose spec files (under specification/) hold it too:
//
//	batch       batch/.../Microsoft.Batch/stable/2024-02-01/BatchManagement.json       BatchAccount_List
//	storage     storage/.../Microsoft.Storage/stable/2023-05-01 (StorageAccount.tsp)   StorageAccounts_List
//	cosmosdb    cosmos-db/.../Microsoft.DocumentDB/stable/2024-11-15/cosmos-db.json   DatabaseAccounts_List
//	redis       redis/.../Microsoft.Cache/stable/2024-11-01/redis.json                Redis_ListBySubscription
//	cognitive   cognitiveservices/.../stable/2024-10-01/cognitiveservices.json        Accounts_List
//	search      search/.../Microsoft.Search/stable/2023-11-01/search.json             Services_ListBySubscription
//	eventhubs   eventhub/.../Microsoft.EventHub/stable/2024-01-01/namespaces.json     Namespaces_List
//	servicebus  servicebus/.../Microsoft.ServiceBus/stable/2021-11-01/namespace-preview.json Namespaces_List
//	maps        maps/.../Microsoft.Maps/stable/2023-06-01/maps-management.json        Accounts_ListBySubscription
//	signalr     signalr/.../Microsoft.SignalRService/stable/2024-03-01/signalr.json   SignalR_ListBySubscription
//
// The answer's type keeps ARM's mixed case ("Microsoft.Batch/batchAccounts",
// batch/.../examples/BatchAccountList.json).

// emulatedLocation is every emulated resource's region.
const emulatedLocation = "westeurope"

// listed is a resource as discovery sees it: for Event Hubs and Service
// Bus the namespace, not its rules.
type listed struct {
	res  Resource
	typ  Type
	id   string
	tags map[string]string
	// endpoints are a Storage account's properties.primaryEndpoints.
	endpoints map[string]string
}

// listEntry is one entry of a list answer.
type listEntry struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Type     string            `json:"type"`
	Location string            `json:"location"`
	Tags     map[string]string `json:"tags"`
}

// listedResources are every resource, once each, sorted by id; e.mu is
// held. The list is kept until an account or a tag changes.
func (e *Emulator) listedResources() []listed {
	if e.disc.resources != nil {
		return e.disc.resources
	}
	seen := map[string]bool{}
	out := []listed{}
	for _, a := range e.accounts {
		r := a.Resource
		r.Rule = ""
		k := r.key()
		if seen[k] {
			continue
		}
		seen[k] = true
		e.addSubscription(r.Subscription)
		out = append(out, listed{res: r, typ: Types[r.typeName()], id: r.ID(), tags: maps.Clone(e.disc.tags[k]),
			endpoints: maps.Clone(a.Endpoints)})
	}
	slices.SortFunc(out, func(a, b listed) int { return strings.Compare(a.id, b.id) })
	e.disc.resources = out
	return out
}

// listPath reads /subscriptions/{s}/providers/{namespace}/{type}.
func listPath(p string) (sub, typeName string, ok bool) {
	seg := strings.Split(strings.Trim(p, "/"), "/")
	if len(seg) != 5 || !strings.EqualFold(seg[0], "subscriptions") || !strings.EqualFold(seg[2], "providers") {
		return "", "", false
	}
	name, _, ok := typeByProvider(seg[3] + "/" + seg[4])
	return seg[1], name, ok
}

// handleList serves a type's list-by-subscription operation.
func (e *Emulator) handleList(w http.ResponseWriter, r *http.Request, sub, typeName string) {
	t := Types[typeName]
	if r.Method != http.MethodGet {
		cloudError(w, http.StatusMethodNotAllowed, "HttpMethodNotAllowed", fmt.Sprintf("The requested resource does not support http method '%s'.", r.Method))
		return
	}
	if !e.checkAPIVersion(w, r, t.APIVersions) || !e.checkToken(w, r) || e.discoveryFault(w, r, listFaultKey(sub, typeName)) {
		return
	}
	if st := e.subscriptionState(sub); st == "" || st == StateDeleted {
		subscriptionNotFound(w, sub)
		return
	}
	var out []listEntry
	e.mu.Lock()
	for _, l := range e.listedResources() {
		if l.res.typeName() == typeName && strings.EqualFold(l.res.Subscription, sub) {
			out = append(out, listEntry{ID: l.id, Name: l.res.Name, Type: l.typ.Provider, Location: emulatedLocation, Tags: l.tags})
		}
	}
	e.mu.Unlock()
	writeListPage(e, w, r, out)
}

// writeListPage answers one page of items, from the nextLink's $skiptoken
// on, with a nextLink to the rest. The token is bound to the path, so a
// token of another list is refused.
func writeListPage[T any](e *Emulator, w http.ResponseWriter, r *http.Request, items []T) {
	bind := "list|" + strings.ToLower(r.URL.EscapedPath())
	start := 0
	if tok := r.URL.Query().Get("$skiptoken"); tok != "" {
		var ok bool
		if start, ok = e.readSkipToken(tok, bind); !ok || start > len(items) {
			cloudError(w, http.StatusBadRequest, "InvalidSkipToken", "The $skiptoken is invalid for this request.")
			return
		}
	}
	end := min(start+e.listPageSize(), len(items))
	body := map[string]any{"value": append([]T{}, items[start:end]...)}
	if end < len(items) {
		q := url.Values{"api-version": {r.URL.Query().Get("api-version")}, "$skiptoken": {e.skipToken(end, bind)}}
		body["nextLink"] = "https://" + r.Host + r.URL.EscapedPath() + "?" + q.Encode()
	}
	writeJSON(w, http.StatusOK, body)
}

// skipToken encodes offset, bound to bind, signed with the emulator's own
// key: base64url(offset | sha256(bind)[:16] | hmac[:16]).
func (e *Emulator) skipToken(offset int, bind string) string {
	b := binary.BigEndian.AppendUint64(nil, uint64(max(offset, 0)))
	sum := sha256.Sum256([]byte(bind))
	b = append(b, sum[:16]...)
	return base64.RawURLEncoding.EncodeToString(append(b, e.tokenMAC(b)...))
}

// readSkipToken checks a token and returns its offset; false when it is
// not the emulator's, or belongs to another query or scope.
func (e *Emulator) readSkipToken(tok, bind string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) != 40 || !hmac.Equal(b[24:], e.tokenMAC(b[:24])) {
		return 0, false
	}
	sum := sha256.Sum256([]byte(bind))
	off := binary.BigEndian.Uint64(b[:8])
	if !hmac.Equal(b[8:24], sum[:16]) || off > 1<<31 {
		return 0, false
	}
	return int(off), true
}

func (e *Emulator) tokenMAC(b []byte) []byte {
	e.mu.Lock()
	if e.disc.tokenKey == nil {
		e.disc.tokenKey = make([]byte, 32)
		_, _ = rand.Read(e.disc.tokenKey)
	}
	m := hmac.New(sha256.New, e.disc.tokenKey)
	e.mu.Unlock()
	m.Write(b)
	return m.Sum(nil)[:16]
}

// Fault keys of the discovery endpoints, beside the accounts' own, where
// no resource id can collide with them.
const (
	graphFaultKey         = "graph|"
	subscriptionsFaultKey = "subscriptions|"
)

func listFaultKey(sub, typeName string) string {
	return "list|" + strings.ToLower(sub) + "|" + strings.ToLower(typeName)
}

// InjectGraphFault queues f for the next Resource Graph queries, as
// InjectFault does for an account.
func (e *Emulator) InjectGraphFault(f Fault) { e.injectKey(graphFaultKey, f) }

// InjectGraphFaultFor queues f for the next Resource Graph queries of
// the managed identity clientID ("" for the system-assigned one) alone,
// as an identity without the right to read a scope is refused while
// others are answered. Faults for every caller (InjectGraphFault) come
// first.
func (e *Emulator) InjectGraphFaultFor(clientID string, f Fault) {
	e.injectKey(graphFaultKey+clientKey(clientID), f)
}

// InjectSubscriptionsFault queues f for the next GET /subscriptions pages.
func (e *Emulator) InjectSubscriptionsFault(f Fault) { e.injectKey(subscriptionsFaultKey, f) }

// InjectListFault queues f for the next pages of the list of a type's
// resources (typeName a key of Types) in a subscription.
func (e *Emulator) InjectListFault(sub, typeName string, f Fault) {
	e.injectKey(listFaultKey(sub, typeName), f)
}

// ClearDiscoveryFaults removes every fault queued for Resource Graph, the
// subscriptions list, the type lists and management groups' descendants.
func (e *Emulator) ClearDiscoveryFaults() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for k := range e.faults {
		if strings.HasPrefix(k, graphFaultKey) || strings.HasPrefix(k, subscriptionsFaultKey) || strings.HasPrefix(k, "list|") ||
			strings.HasPrefix(k, descendantsFaultKey) {
			delete(e.faults, k)
		}
	}
}

func (e *Emulator) injectKey(k string, f Fault) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults[k] = append(e.faults[k], f)
}

// discoveryFault serves the next fault queued under k, if any.
func (e *Emulator) discoveryFault(w http.ResponseWriter, r *http.Request, k string) bool {
	e.mu.Lock()
	f, ok := e.nextFault(k, "")
	e.mu.Unlock()
	return ok && e.serveFault(w, r, f)
}

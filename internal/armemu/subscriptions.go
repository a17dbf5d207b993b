package armemu

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Subscription states, from
// specification/resources/resource-manager/Microsoft.Resources/subscriptions/stable/2022-12-01/subscriptions.json
// (Subscription.state).
const (
	StateEnabled  = "Enabled"
	StateWarned   = "Warned"
	StatePastDue  = "PastDue"
	StateDisabled = "Disabled"
	StateDeleted  = "Deleted"
)

// subscriptionsAPIVersion is Subscriptions_List's, the only value of the
// Versions enum in
// specification/resources/resource-manager/Microsoft.Resources/subscriptions/main.tsp.
const subscriptionsAPIVersion = "2022-12-01"

// Subscription is one subscription as GET /subscriptions shows it.
type Subscription struct {
	ID          string `json:"id"`
	SubID       string `json:"subscriptionId"`
	DisplayName string `json:"displayName"`
	State       string `json:"state"`
}

// discoveryState is what the emulator holds for discovery: subscriptions
// added or given a state, management groups, tags, Resource Graph's quota
// and the page size of ARM's list APIs. Maps are made on first use; e.mu
// guards it all.
type discoveryState struct {
	subs       map[string]string   // lower-case id -> state
	subOrder   map[string]string   // lower-case id -> id as added
	groups     map[string][]string // lower-case management group id -> subscriptions
	tags       map[string]map[string]string
	resources  []listed // cache of listedResources, nil when stale
	answers    queryCache
	pageSize   int
	graphPage  int
	quota      graphQuota
	windows    map[string]*quotaWindow
	tokenKey   []byte
	queries    []GraphQuery
	graphCount int
	subLimits  map[string]int // caller -> subscriptions a wide scope answers for
}

// Maximum tags of a resource, and their sizes, from
// learn.microsoft.com/azure/azure-resource-manager/management/tag-resources#limitations.
const (
	maxTags     = 50
	maxTagName  = 512
	maxTagValue = 256
)

// SetTags replaces the tags of a resource (for Event Hubs and Service Bus,
// of the namespace that holds r's rule), as ARM's tags API does.
func (e *Emulator) SetTags(r Resource, tags map[string]string) error {
	if len(tags) > maxTags {
		return fmt.Errorf("a resource has at most %d tags, got %d", maxTags, len(tags))
	}
	for k, v := range tags {
		if k == "" || len(k) > maxTagName || len(v) > maxTagValue {
			return fmt.Errorf("tag %q: a name has 1 to %d characters and a value at most %d", k, maxTagName, maxTagValue)
		}
	}
	parent := r
	parent.Rule = ""
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.hasResource(parent) {
		return fmt.Errorf("no resource %s", parent.ID())
	}
	if e.disc.tags == nil {
		e.disc.tags = map[string]map[string]string{}
	}
	e.disc.tags[parent.key()] = maps.Clone(tags)
	e.disc.resources = nil
	return nil
}

// tagsOf is a copy of the tags of r's resource; e.mu is held.
func (e *Emulator) tagsOf(r Resource) map[string]string {
	r.Rule = ""
	return maps.Clone(e.disc.tags[r.key()])
}

// hasResource reports whether any account is r or under r; e.mu is held.
func (e *Emulator) hasResource(r Resource) bool {
	k := r.key()
	if _, ok := e.accounts[k]; ok {
		return true // most types: the account is the resource, one lookup
	}
	prefix := k + "/"
	for ak := range e.accounts {
		if strings.HasPrefix(ak, prefix) {
			return true
		}
	}
	return false
}

// AddSubscription makes a subscription known, Enabled, even with no
// resources in it.
func (e *Emulator) AddSubscription(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.addSubscription(id)
}

// addSubscription adds id as Enabled unless it is known; e.mu is held.
func (e *Emulator) addSubscription(id string) {
	if e.disc.subs == nil {
		e.disc.subs, e.disc.subOrder = map[string]string{}, map[string]string{}
	}
	k := strings.ToLower(id)
	if _, ok := e.disc.subs[k]; !ok {
		e.disc.subs[k], e.disc.subOrder[k] = StateEnabled, id
	}
}

// SetSubscriptionState gives a subscription one of the documented states,
// adding it if it is unknown.
func (e *Emulator) SetSubscriptionState(id, state string) error {
	if !slices.Contains([]string{StateEnabled, StateWarned, StatePastDue, StateDisabled, StateDeleted}, state) {
		return fmt.Errorf("unknown subscription state %q", state)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.addSubscription(id)
	e.disc.subs[strings.ToLower(id)] = state
	return nil
}

// AddManagementGroup makes a management group holding subs (adding them
// as subscriptions), or adds subs to it. Groups do not nest here.
func (e *Emulator) AddManagementGroup(id string, subs ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.disc.groups == nil {
		e.disc.groups = map[string][]string{}
	}
	k := strings.ToLower(id)
	for _, s := range subs {
		e.addSubscription(s)
		e.disc.groups[k] = append(e.disc.groups[k], strings.ToLower(s))
	}
	if _, ok := e.disc.groups[k]; !ok {
		e.disc.groups[k] = []string{}
	}
}

// Subscriptions lists every subscription the emulator knows, added or
// holding a resource, by id.
func (e *Emulator) Subscriptions() []Subscription {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.subscriptions()
}

// subscriptions is Subscriptions; e.mu is held.
func (e *Emulator) subscriptions() []Subscription {
	e.listedResources() // adds the subscriptions that hold resources
	out := make([]Subscription, 0, len(e.disc.subs))
	for k, state := range e.disc.subs {
		id := e.disc.subOrder[k]
		out = append(out, Subscription{ID: "/subscriptions/" + id, SubID: id, DisplayName: "Emulated subscription " + id, State: state})
	}
	slices.SortFunc(out, func(a, b Subscription) int {
		return strings.Compare(strings.ToLower(a.SubID), strings.ToLower(b.SubID))
	})
	return out
}

// SetListPageSize sets how many entries a page of ARM's list APIs
// (subscriptions, resources of a type) holds; 0 means 100.
func (e *Emulator) SetListPageSize(n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.disc.pageSize = n
}

func (e *Emulator) listPageSize() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.disc.pageSize <= 0 {
		return 100
	}
	return e.disc.pageSize
}

// handleSubscriptions is Subscriptions_List: GET /subscriptions, paged by
// nextLink (x-ms-pageable in subscriptions.json).
func (e *Emulator) handleSubscriptions(w http.ResponseWriter, r *http.Request) {
	e.begin(w, r)
	if r.Method != http.MethodGet {
		cloudError(w, http.StatusMethodNotAllowed, "HttpMethodNotAllowed", fmt.Sprintf("The requested resource does not support http method '%s'.", r.Method))
		return
	}
	if !e.checkAPIVersion(w, r, []string{subscriptionsAPIVersion}) || !e.checkToken(w, r) || e.discoveryFault(w, r, subscriptionsFaultKey) {
		return
	}
	e.mu.Lock()
	subs := e.subscriptions()
	e.mu.Unlock()
	writeListPage(e, w, r, subs)
}

// subscriptionNotFound is ARM's answer for a subscription it does not
// know, or that is deleted.
func subscriptionNotFound(w http.ResponseWriter, sub string) {
	cloudError(w, http.StatusNotFound, "SubscriptionNotFound", fmt.Sprintf("The subscription '%s' could not be found.", sub))
}

// subscriptionState is a subscription's state, "" when unknown.
func (e *Emulator) subscriptionState(sub string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.subscriptions()
	return e.disc.subs[strings.ToLower(sub)]
}

// begin records a request, waits the latency, and sets ARM's request-id
// headers, as every ARM answer has them.
func (e *Emulator) begin(w http.ResponseWriter, r *http.Request) {
	e.record(r)
	e.delay(r)
	reqID := e.requestID()
	w.Header().Set("x-ms-request-id", reqID)
	w.Header().Set("x-ms-correlation-request-id", reqID)
}

// fmtDuration writes d as hh:mm:ss, rounded up to the second.
func fmtDuration(d time.Duration) string {
	s := int((d + time.Second - 1) / time.Second)
	return fmt.Sprintf("%02d:%02d:%02d", s/3600, s/60%60, s%60)
}

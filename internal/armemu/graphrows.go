package armemu

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// row is one row of the Resources table. Its type and resourceGroup
// columns are lower-case: "the resourceGroup property of resources from
// the resources table will be lowercase", and every Resource Graph example
// answers a lower-case type
// (learn.microsoft.com/azure/governance/resource-graph/concepts/explore-resources;
// specification/.../2024-04-01/examples/ResourcesNextPageQuery.json). The
// id keeps ARM's case.
type row struct {
	l *listed
	// ext holds the values of the query's extends, each computed on
	// first use (set says which).
	ext []dyn
	set []bool
	q   *query
}

// extended is the value of the query's extend in slot, computed once.
func (r *row) extended(slot int) dyn {
	if r.set == nil {
		r.ext, r.set = make([]dyn, len(r.q.extend)), make([]bool, len(r.q.extend))
	}
	if !r.set[slot] {
		r.ext[slot], r.set[slot] = r.q.extend[slot].eval(r), true
	}
	return r.ext[slot]
}

// col is a column's value.
func (r row) col(name string) string {
	switch name {
	case "id":
		return r.l.id
	case "name":
		return r.l.res.Name
	case "type":
		return strings.ToLower(r.l.typ.Provider)
	case "subscriptionId":
		return r.l.res.Subscription
	case "resourceGroup":
		return strings.ToLower(r.l.res.ResourceGroup)
	case "location":
		return emulatedLocation
	}
	return ""
}

// project is the row as an objectArray entry: the columns named, or every
// one of Resources.
func (r *row) project(cols []string) map[string]any {
	if cols == nil {
		cols = []string{"id", "name", "type", "subscriptionId", "resourceGroup", "location", "tags", "properties"}
	}
	out := make(map[string]any, len(cols))
	for _, c := range cols {
		switch slot, ok := r.q.slot(c); {
		case ok:
			out[c] = r.extended(slot).output()
		case c == "tags":
			out[c] = r.l.tags
		case c == "properties":
			out[c] = r.l.properties()
		default:
			out[c] = r.col(c)
		}
	}
	return out
}

// runQuery filters the resources in scope (nil: all) by the query's where
// clauses and sorts them (by id ascending when the query does not say).
func (e *Emulator) runQuery(q *query, scope map[string]bool) []*row {
	e.mu.Lock()
	all := e.listedResources()
	e.mu.Unlock()
	var out []*row
	for i := range all {
		if scope != nil && !scope[strings.ToLower(all[i].res.Subscription)] {
			continue
		}
		r := &row{l: &all[i], q: q}
		if !slices.ContainsFunc(q.where, func(c cond) bool { return !c.eval(r) }) {
			out = append(out, r)
		}
	}
	col := cmp.Or(q.orderBy, "id")
	slices.SortStableFunc(out, func(a, b *row) int {
		c := strings.Compare(a.col(col), b.col(col))
		if q.desc {
			return -c
		}
		return c
	})
	return out
}

// eval is the condition's truth for a row. A comparison with null is not
// true, either way round (Kusto's where keeps only rows whose condition is
// true), so a query must write tostring() or isempty() to match a missing
// tag.
func (c cond) eval(r *row) bool {
	switch c.op {
	case "or":
		return c.left.eval(r) || c.right.eval(r)
	case "and":
		return c.left.eval(r) && c.right.eval(r)
	}
	v := c.l.eval(r)
	switch c.op {
	case "isempty":
		return v.empty()
	case "isnotempty":
		return !v.empty()
	}
	if v.kind != dynString {
		return false
	}
	s := v.str()
	if c.op == "in~" {
		return slices.ContainsFunc(c.lits, func(l string) bool { return asciiFold(s, l) })
	}
	w := c.r.eval(r)
	if w.kind != dynString {
		return false
	}
	switch c.op {
	case "=~":
		return asciiFold(s, w.str())
	case "!~":
		return !asciiFold(s, w.str())
	case "==":
		return s == w.str()
	}
	return s != w.str() // !=
}

// asciiFold compares without case, ASCII letters only: "Case-insensitive
// operators are currently supported only for ASCII-text"
// (learn.microsoft.com/azure/data-explorer/kusto/query/equals-operator).
func asciiFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// Resource Graph's quota, from
// learn.microsoft.com/azure/governance/resource-graph/concepts/guidance-for-throttled-requests:
// "a user can send at most 15 queries within every 5-second window";
// every answer has x-ms-user-quota-remaining (queries left) and
// x-ms-user-quota-resets-after (hh:mm:ss). Over it, ARM's throttling
// answer, 429 with Retry-After in seconds
// (learn.microsoft.com/azure/azure-resource-manager/management/request-limits-and-throttling);
// the code RateLimiting is what Resource Graph answers in practice, not in
// the spec.
const (
	defaultGraphQuota  = 15
	defaultGraphWindow = 5 * time.Second
)

type graphQuota struct {
	limit  int
	window time.Duration
}

type quotaWindow struct {
	start time.Time
	used  int
}

// SetGraphQuota sets Resource Graph's quota: n queries per caller in each
// window (0 and 0 restore 15 per 5 s), and starts every caller afresh.
func (e *Emulator) SetGraphQuota(n int, window time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.disc.quota = graphQuota{limit: n, window: window}
	e.disc.windows = nil
}

// admitGraphQuota counts a query against its caller's window, sets the
// quota headers, and answers 429 when none is left.
func (e *Emulator) admitGraphQuota(w http.ResponseWriter, r *http.Request) bool {
	caller := e.caller(r)
	now := time.Now()
	e.mu.Lock()
	q := e.disc.quota
	q.limit, q.window = cmp.Or(q.limit, defaultGraphQuota), cmp.Or(q.window, defaultGraphWindow)
	if e.disc.windows == nil {
		e.disc.windows = map[string]*quotaWindow{}
	}
	win := e.disc.windows[caller]
	if win == nil || now.Sub(win.start) >= q.window {
		win = &quotaWindow{start: now}
		e.disc.windows[caller] = win
	}
	admitted := win.used < q.limit
	if admitted {
		win.used++
	}
	left, reset := q.limit-win.used, win.start.Add(q.window).Sub(now)
	e.mu.Unlock()
	w.Header().Set("x-ms-user-quota-remaining", strconv.Itoa(left))
	w.Header().Set("x-ms-user-quota-resets-after", fmtDuration(reset))
	if admitted {
		return true
	}
	quotaExceeded(w, reset, true)
	return false
}

// quotaExceeded answers 429 RateLimiting: no query left until reset, said
// in x-ms-user-quota-resets-after and, with retryAfter, in Retry-After.
func quotaExceeded(w http.ResponseWriter, reset time.Duration, retryAfter bool) {
	w.Header().Set("x-ms-user-quota-remaining", "0")
	w.Header().Set("x-ms-user-quota-resets-after", fmtDuration(reset))
	if retryAfter {
		secs := int((reset + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	}
	graphError(w, http.StatusTooManyRequests, "RateLimiting", "Please provide below info when asking for support: the caller has used its Resource Graph quota.",
		map[string]any{"code": "RateLimiting", "message": "Client application has been throttled and should not attempt to repeat the request until an amount of time has elapsed."})
}

// clientKey names the managed identity clientID as a caller.
func clientKey(clientID string) string { return "client|" + clientID }

// caller names who sends a request: the managed identity its token was
// issued to.
func (e *Emulator) caller(r *http.Request) string {
	raw, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	e.mu.Lock()
	defer e.mu.Unlock()
	if t, ok := e.tokens[raw]; ok {
		return clientKey(t.client)
	}
	return "token|" + raw
}

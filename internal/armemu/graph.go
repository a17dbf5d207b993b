package armemu

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strings"
)

// Resource Graph's query API, from
// specification/resourcegraph/resource-manager/Microsoft.ResourceGraph/ResourceGraph/stable/2024-04-01/resourcegraph.json:
// POST /providers/Microsoft.ResourceGraph/resources (operationId
// Resources), body QueryRequest, 200 QueryResponse, otherwise
// ErrorResponse {error: {code, message, details}}. options.$top is 1 to
// 1000; paging goes through the body's $skipToken, sent back "together
// with the same query and scopes".
const (
	graphPath       = "/providers/Microsoft.ResourceGraph/resources"
	graphAPIVersion = "2024-04-01"
	graphMaxTop     = 1000
	// graphMaxSubscriptions: the docs name no number, but tell clients to
	// "batch requests for the query with a subset of subscriptions to stay
	// under the 1000 subscription limit"
	// (learn.microsoft.com/azure/governance/resource-graph/troubleshoot/general#toomanysubscription).
	graphMaxSubscriptions = 1000
	// graphBodyLimit bounds a request body; the emulator's choice.
	graphBodyLimit = 1 << 20
)

// GraphQuery is a Resource Graph request as the emulator received it.
type GraphQuery struct {
	Subscriptions    []string `json:"subscriptions,omitempty"`
	ManagementGroups []string `json:"managementGroups,omitempty"`
	Query            string   `json:"query"`
	Options          struct {
		Top                *int   `json:"$top,omitempty"`
		Skip               *int   `json:"$skip,omitempty"`
		SkipToken          string `json:"$skipToken,omitempty"`
		ResultFormat       string `json:"resultFormat,omitempty"`
		AllowPartialScopes *bool  `json:"allowPartialScopes,omitempty"`
	} `json:"options"`
	Facets []json.RawMessage `json:"facets,omitempty"`
}

// GraphQueries returns the Resource Graph request bodies that reached the
// query stage (past token, quota and faults), oldest first: the last
// maxQueryLog at most.
func (e *Emulator) GraphQueries() []GraphQuery {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.disc.queries)
}

// SetGraphPageSize caps the rows of a Resource Graph page below $top (0:
// $top alone), as Azure may answer fewer rows than $top with a
// $skipToken for the rest (an answer is at most 16 MB,
// learn.microsoft.com/azure/governance/resource-graph/concepts/paging-results).
func (e *Emulator) SetGraphPageSize(n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.disc.graphPage = n
}

// maxQueryLog bounds the log GraphQueries returns: the oldest half goes
// when it is full.
const maxQueryLog = 10_000

func (e *Emulator) logQuery(q GraphQuery) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.disc.queries) >= maxQueryLog {
		e.disc.queries = slices.Delete(e.disc.queries, 0, maxQueryLog/2)
	}
	e.disc.queries = append(e.disc.queries, q)
}

// GraphRequests counts every Resource Graph request that arrived.
func (e *Emulator) GraphRequests() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.disc.graphCount
}

// graphError writes Resource Graph's ErrorResponse. Azure answers a bad
// query with code BadRequest and the reason in details, first
// {"code": "InvalidQuery", ...} then the parser's (as seen in
// github.com/Azure/azure-powershell/issues/13762 and
// github.com/Azure/aztfexport/issues/485).
func graphError(w http.ResponseWriter, status int, code, msg string, details ...map[string]any) {
	if details == nil {
		details = []map[string]any{}
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": code, "message": msg, "details": details}})
}

func badRequest(w http.ResponseWriter, msg string) {
	graphError(w, http.StatusBadRequest, "BadRequest", msg)
}

func (e *Emulator) handleGraph(w http.ResponseWriter, r *http.Request) {
	e.begin(w, r)
	e.mu.Lock()
	e.disc.graphCount++
	e.mu.Unlock()
	switch {
	case !strings.EqualFold(r.URL.Path, graphPath):
		cloudError(w, http.StatusNotFound, "InvalidResourceType", "The resource type could not be found for api version '"+r.URL.Query().Get("api-version")+"'.")
		return
	case r.Method != http.MethodPost:
		cloudError(w, http.StatusMethodNotAllowed, "HttpMethodNotAllowed", fmt.Sprintf("The requested resource does not support http method '%s'.", r.Method))
		return
	}
	if !e.checkAPIVersion(w, r, []string{graphAPIVersion}) || !e.checkToken(w, r) || !e.admitGraphQuota(w, r) ||
		e.discoveryFault(w, r, graphFaultKey) || e.discoveryFault(w, r, graphFaultKey+e.caller(r)) {
		return
	}
	// "The REST API only supports a Content-Type of application/json":
	// text/plain gets a 500
	// (learn.microsoft.com/azure/governance/resource-graph/troubleshoot/general).
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		graphError(w, http.StatusInternalServerError, "InternalServerError", "Encountered an internal server error.")
		return
	}
	var q GraphQuery
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, graphBodyLimit)).Decode(&q); err != nil {
		badRequest(w, "The request body is not a valid QueryRequest: "+err.Error())
		return
	}
	e.logQuery(q)
	e.answerGraph(w, q, e.caller(r))
}

// answerGraph checks the request, runs the query for caller and writes a
// page.
func (e *Emulator) answerGraph(w http.ResponseWriter, q GraphQuery, caller string) {
	top, msg := checkGraphRequest(q)
	if msg != "" {
		badRequest(w, msg)
		return
	}
	parsed, err := parseQuery(q.Query)
	if err != nil {
		graphError(w, http.StatusBadRequest, "BadRequest", "Please provide below info when asking for support: the query is not in the subset the emulator serves.",
			map[string]any{"code": "InvalidQuery", "message": "Query is invalid. Please refer to the documentation for the Azure Resource Graph service and fix the error before retrying."},
			map[string]any{"code": "ParserFailure", "message": err.Error()})
		return
	}
	scope, ok := e.graphScope(q)
	if !ok {
		graphError(w, http.StatusBadRequest, "BadRequest", "A management group of the request is not known.",
			map[string]any{"code": "ManagementGroupNotFound", "message": "Management group " + strings.Join(q.ManagementGroups, ", ") + " was not found."})
		return
	}
	if len(q.Subscriptions) == 0 {
		var cut bool
		if scope, cut = e.capScope(scope, caller); cut {
			w.Header().Set(limitHitHeader, "true")
		}
	}
	rows := e.queryRows(q.Query, parsed, scope)
	bind := "graph|" + q.Query + "\x00" + scopeKey(q)
	start := 0
	if q.Options.Skip != nil {
		start = *q.Options.Skip
	}
	if q.Options.SkipToken != "" {
		if start, ok = e.readSkipToken(q.Options.SkipToken, bind); !ok {
			badRequest(w, "The $skipToken does not belong to this query and scope.")
			return
		}
	}
	e.writeGraphPage(w, parsed, rows, min(start, len(rows)), top, bind)
}

// checkGraphRequest checks QueryRequest's constraints and returns the
// page size, or why the request is refused.
func checkGraphRequest(q GraphQuery) (int, string) {
	o := q.Options
	switch {
	case strings.TrimSpace(q.Query) == "":
		return 0, "The query is required."
	case len(q.Subscriptions) > 0 && len(q.ManagementGroups) > 0:
		// "managementGroups can't be used at the same time as subscriptions"
		// (learn.microsoft.com/azure/governance/resource-graph/concepts/query-language#query-scope).
		return 0, "The request cannot name both subscriptions and managementGroups."
	case len(q.Subscriptions) > graphMaxSubscriptions:
		return 0, fmt.Sprintf("The request names %d subscriptions; at most %d are allowed.", len(q.Subscriptions), graphMaxSubscriptions)
	case o.Top != nil && (*o.Top < 1 || *o.Top > graphMaxTop):
		return 0, fmt.Sprintf("options.$top must be between 1 and %d.", graphMaxTop)
	case o.Skip != nil && *o.Skip < 0:
		return 0, "options.$skip must not be negative."
	case o.ResultFormat != "" && o.ResultFormat != "objectArray":
		// The emulator answers objectArray only (the spec's default);
		// "table" is refused rather than answered in the wrong shape.
		return 0, fmt.Sprintf("resultFormat %q is not served by the emulator; use objectArray.", o.ResultFormat)
	case len(q.Facets) > 0:
		return 0, "facets are not served by the emulator."
	}
	if o.Top == nil {
		return graphMaxTop, ""
	}
	return *o.Top, ""
}

// scopeKey names a request's scope for binding a skip token to it.
func scopeKey(q GraphQuery) string {
	norm := func(ids []string) string {
		l := make([]string, len(ids))
		for i, id := range ids {
			l[i] = strings.ToLower(id)
		}
		slices.Sort(l)
		return strings.Join(l, ",")
	}
	return "s:" + norm(q.Subscriptions) + "|m:" + norm(q.ManagementGroups)
}

// graphScope is the set of subscriptions a request searches (nil: every
// one, the tenant scope), or false for an unknown management group.
// Deleted subscriptions hold nothing.
func (e *Emulator) graphScope(q GraphQuery) (map[string]bool, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.subscriptions()
	in := map[string]bool{}
	switch {
	case len(q.ManagementGroups) > 0:
		for _, mg := range q.ManagementGroups {
			subs, ok := e.disc.groups[strings.ToLower(mg)]
			if !ok {
				return nil, false
			}
			for _, s := range subs {
				in[s] = true
			}
		}
	case len(q.Subscriptions) > 0:
		for _, s := range q.Subscriptions {
			in[strings.ToLower(s)] = true
		}
	default:
		for k := range e.disc.subs {
			in[k] = true
		}
	}
	for k := range in {
		if e.disc.subs[k] == StateDeleted {
			delete(in, k)
		}
	}
	return in, true
}

// writeGraphPage writes QueryResponse: rows[start:start+top], projected,
// with a $skipToken when more follow. Paging needs the id column
// (specification/.../2024-04-01/examples/ResourcesNextPageQuery.json:
// "id field is required in the response to return the pages in stable
// sorted fashion"); without it the answer is truncated and has no
// $skipToken, as "when resultTruncated is true, $skipToken is not set"
// (learn.microsoft.com/azure/governance/resource-graph/concepts/paging-results).
func (e *Emulator) writeGraphPage(w http.ResponseWriter, q *query, rows []*listed, start, top int, bind string) {
	e.mu.Lock()
	if n := e.disc.graphPage; n > 0 {
		top = min(top, n)
	}
	e.mu.Unlock()
	end := min(start+top, len(rows))
	data := make([]map[string]any, 0, end-start)
	for _, l := range rows[start:end] {
		r := &row{l: l, q: q}
		data = append(data, r.project(q.project))
	}
	body := map[string]any{"totalRecords": len(rows), "count": len(data), "resultTruncated": "false", "data": data}
	if end < len(rows) {
		if q.project != nil && !slices.Contains(q.project, "id") {
			body["resultTruncated"] = "true"
		} else {
			body["$skipToken"] = e.skipToken(end, bind)
		}
	}
	writeJSON(w, http.StatusOK, body)
}

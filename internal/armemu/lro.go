package armemu

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
)

// A long-running regenerate (AnswerAsync: Cosmos DB, SignalR) is served as
// ARM's asynchronous operations are (azure-resource-manager-rpc,
// v1.0/async-api-reference.md): the action answers 202 Accepted with
// Azure-AsyncOperation, a status resource that answers
// {"status": "InProgress"|"Succeeded"|"Failed", "error": {code, message}},
// and Location, which answers 202 while the operation runs and 204 once it
// succeeded, both with Retry-After. The key changes when the operation
// succeeds, after it has answered InProgress OperationReads times.
//
// A hostile answer can be served too (FaultOperationElsewhere): 202 with
// only Operation-Location, the header's newer name for a status resource
// (microsoft/api-guidelines, azure/Guidelines.md, "Long running
// operations"), whose Succeeded status names a resourceLocation on another
// host, where a client that makes a final GET sends its bearer token.

// Operation faults, served by the regenerate action of an AnswerAsync type
// (other types pass them by, as if not queued).
const (
	// FaultOperationFailed: the operation ends Failed with Code and
	// Message (Status on the Location URL, 409 if 0); no key changes.
	FaultOperationFailed = "operation-failed"
	// FaultOperationHangs: the operation never leaves InProgress.
	FaultOperationHangs = "operation-hangs"
	// FaultOperationElsewhere: the regenerate answers 202 with only
	// Operation-Location; the operation succeeds (the key changes), and
	// its Succeeded status carries "resourceLocation": Location.
	FaultOperationElsewhere = "operation-elsewhere"
)

// Operation statuses.
const (
	statusInProgress = "InProgress"
	statusSucceeded  = "Succeeded"
	statusFailed     = "Failed"
)

// maxOperations bounds the operations the emulator remembers; the oldest
// finished ones go first.
const maxOperations = 10000

// operation is one long-running regenerate; emit publishes its event, as
// the request spelt it, once it succeeds.
type operation struct {
	res    Resource
	field  string
	emit   func()
	fault  *Fault
	reads  int
	status string
}

// lroState holds the operations, by id, under its own lock (taken before
// Emulator.mu, never after).
type lroState struct {
	mu         sync.Mutex
	ops        map[string]*operation
	order      []string
	reads      int
	retryAfter string
	// paces are SetOperationReadsFor's, by resource key.
	paces map[string]lroPace
}

// lroPace is how many status reads answer InProgress, and the
// Retry-After they carry.
type lroPace struct {
	reads      int
	retryAfter string
}

// SetOperationReads sets how many status reads answer InProgress before an
// operation succeeds (1 when never set), and the Retry-After its answers
// carry, in seconds ("1" when empty).
func (e *Emulator) SetOperationReads(n int, retryAfter string) {
	e.lro.mu.Lock()
	defer e.lro.mu.Unlock()
	e.lro.reads, e.lro.retryAfter = n, retryAfter
}

// SetOperationReadsFor is SetOperationReads for the operations of one
// resource only, ahead of the emulator-wide setting, so that tests sharing
// the emulator each pace their own.
func (e *Emulator) SetOperationReadsFor(r Resource, n int, retryAfter string) {
	e.lro.mu.Lock()
	defer e.lro.mu.Unlock()
	if e.lro.paces == nil {
		e.lro.paces = map[string]lroPace{}
	}
	e.lro.paces[r.key()] = lroPace{reads: n, retryAfter: retryAfter}
}

// pace is the reads and Retry-After of the resource's operations; l.mu is
// held.
func (l *lroState) pace(r Resource) (reads int, retryAfter string) {
	if p, ok := l.paces[r.key()]; ok {
		return p.reads, cmp.Or(p.retryAfter, "1")
	}
	return l.reads, cmp.Or(l.retryAfter, "1")
}

// accept starts a long-running regenerate of p's field and answers 202
// with the operation's URLs.
func (e *Emulator) accept(w http.ResponseWriter, r *http.Request, p armPath, field string, f *Fault) {
	id, res := randomString(16), p.res
	req := r.Clone(context.Background())
	l := &e.lro
	l.mu.Lock()
	if l.ops == nil {
		l.ops, l.reads = map[string]*operation{}, cmp.Or(l.reads, 1)
	}
	l.forgetOldest()
	l.ops[id] = &operation{res: res, field: field, fault: f, status: statusInProgress, emit: func() { e.emitARMAction(req, p) }}
	l.order = append(l.order, id)
	_, retry := l.pace(res)
	l.mu.Unlock()
	t := Types[res.typeName()]
	ns, _, _ := strings.Cut(t.Provider, "/")
	base := fmt.Sprintf("https://%s/subscriptions/%s/providers/%s/locations/emulator/", r.Host, res.Subscription, ns)
	q := "?api-version=" + r.URL.Query().Get("api-version")
	if f != nil && f.Kind == FaultOperationElsewhere {
		w.Header().Set("Operation-Location", base+"operationStatuses/"+id+q)
	} else {
		w.Header().Set("Azure-AsyncOperation", base+"operationStatuses/"+id+q)
		w.Header().Set("Location", base+"operationResults/"+id+q)
	}
	w.Header().Set("Retry-After", retry)
	w.WriteHeader(http.StatusAccepted)
}

// forgetOldest drops the oldest finished operations past maxOperations;
// l.mu is held.
func (l *lroState) forgetOldest() {
	for len(l.order) >= maxOperations {
		id := l.order[0]
		l.order = l.order[1:]
		delete(l.ops, id)
	}
}

// operationPath reads .../locations/{l}/operationStatuses|operationResults/{id}.
func operationPath(p string) (kind, id string, ok bool) {
	seg := strings.Split(strings.Trim(p, "/"), "/")
	if len(seg) != 8 || !strings.EqualFold(seg[0], "subscriptions") || !strings.EqualFold(seg[2], "providers") || !strings.EqualFold(seg[4], "locations") {
		return "", "", false
	}
	return seg[6], seg[7], seg[6] == "operationStatuses" || seg[6] == "operationResults"
}

// handleOperation serves an operation's status or result URL, and reports
// whether the path was one.
func (e *Emulator) handleOperation(w http.ResponseWriter, r *http.Request) bool {
	kind, id, ok := operationPath(r.URL.Path)
	if !ok {
		return false
	}
	switch {
	case r.Method != http.MethodGet:
		cloudError(w, http.StatusMethodNotAllowed, "HttpMethodNotAllowed", fmt.Sprintf("The requested resource does not support http method '%s'.", r.Method))
		return true
	case r.URL.Query().Get("api-version") == "":
		cloudError(w, http.StatusBadRequest, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.")
		return true
	case !e.checkToken(w, r):
		return true
	}
	op, status, retry := e.advance(id)
	switch {
	case op == nil:
		cloudError(w, http.StatusNotFound, "OperationNotFound", "The operation '"+id+"' was not found.")
	case kind == "operationStatuses":
		e.answerStatus(w, id, op, status, retry)
	default:
		answerResult(w, r, op, status, retry)
	}
	return true
}

// advance reads the operation once: InProgress for its first reads (for
// ever under FaultOperationHangs), then its end, which regenerates the key
// unless the operation fails.
func (e *Emulator) advance(id string) (op *operation, status, retry string) {
	l := &e.lro
	var emit func()
	defer func() {
		if emit != nil {
			emit()
		}
	}()
	l.mu.Lock()
	defer l.mu.Unlock()
	op = l.ops[id]
	if op == nil {
		return nil, "", ""
	}
	reads, retry := l.pace(op.res)
	switch {
	case op.status != statusInProgress:
	case op.fault != nil && op.fault.Kind == FaultOperationHangs, op.reads < reads:
		op.reads++
	case op.fault != nil && op.fault.Kind != FaultOperationElsewhere:
		op.status = statusFailed
	default:
		op.status, emit = statusSucceeded, op.emit
		if _, err := e.regenerate(op.res, op.field); err != nil {
			op.status, op.fault, emit = statusFailed, &Fault{Code: "ResourceNotFound", Message: err.Error()}, nil
		}
	}
	return op, op.status, retry
}

// answerStatus writes the status resource.
func (e *Emulator) answerStatus(w http.ResponseWriter, id string, op *operation, status, retry string) {
	body := map[string]any{"id": id, "name": id, "status": status}
	switch {
	case status == statusFailed:
		body["error"] = map[string]string{"code": cmp.Or(op.fault.Code, "InternalServerError"), "message": op.fault.Message}
	case status == statusSucceeded && op.fault != nil && op.fault.Kind == FaultOperationElsewhere:
		body["resourceLocation"] = op.fault.Location
	}
	if status == statusInProgress {
		w.Header().Set("Retry-After", retry)
	}
	writeJSON(w, http.StatusOK, body)
}

// answerResult writes the Location URL's answer: 202 while running, 204
// once succeeded, the operation's CloudError once failed.
func answerResult(w http.ResponseWriter, r *http.Request, op *operation, status, retry string) {
	switch status {
	case statusInProgress:
		w.Header().Set("Location", "https://"+r.Host+r.URL.RequestURI())
		w.Header().Set("Retry-After", retry)
		w.WriteHeader(http.StatusAccepted)
	case statusSucceeded:
		w.WriteHeader(http.StatusNoContent)
	default:
		cloudError(w, cmp.Or(op.fault.Status, http.StatusConflict), cmp.Or(op.fault.Code, "InternalServerError"), op.fault.Message)
	}
}

// takeOperationFault takes the resource's next fault when it is an
// operation fault for action; e.mu is not held.
func (e *Emulator) takeOperationFault(p armPath) *Fault {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.operationFaultNext(p) {
		return nil
	}
	f, ok := e.nextFault(p.res.key(), p.action[0])
	if !ok {
		return nil
	}
	return &f
}

// operationFaultNext reports whether the resource's next fault is an
// operation fault, which only a long-running regenerate serves; e.mu is
// held.
func (e *Emulator) operationFaultNext(p armPath) bool {
	q := e.faults[p.res.key()]
	if len(q) == 0 {
		return false
	}
	switch q[0].Kind {
	case FaultOperationFailed, FaultOperationHangs, FaultOperationElsewhere:
		return true
	}
	return false
}

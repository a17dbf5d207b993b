package armemu

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

func (e *Emulator) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/msi/token", e.handleToken)
	mux.HandleFunc("/subscriptions", e.handleSubscriptions)
	mux.HandleFunc("/subscriptions/", e.handleARM)
	mux.HandleFunc("/providers/", e.handleProviders)
	mux.Handle("/_emulator/", e.adminRoutes())
	return e.withLinkHosts(e.entraFront(mux))
}

// handleToken is the App Service managed-identity protocol (api-version
// 2019-08-01): GET with X-IDENTITY-HEADER, query resource and client_id.
func (e *Emulator) handleToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("X-IDENTITY-HEADER")), []byte(e.IdentityHeader)) != 1 {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"statusCode": 401, "message": "X-IDENTITY-HEADER is missing or wrong"})
		return
	}
	q := r.URL.Query()
	if e.tokenFault(w, r, q.Get("client_id")) {
		return
	}
	if q.Get("api-version") != "2019-08-01" || q.Get("resource") == "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"statusCode": 400, "message": "api-version 2019-08-01 and resource are required"})
		return
	}
	tok := "emu." + randomString(24)
	exp := time.Now().Add(e.TokenTTL)
	e.mu.Lock()
	e.tokens[tok] = token{resource: q.Get("resource"), client: q.Get("client_id"), expires: exp}
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok,
		"expires_on":   strconv.FormatInt(exp.Unix(), 10),
		"resource":     q.Get("resource"),
		"token_type":   "Bearer",
		"client_id":    q.Get("client_id"),
	})
}

func (e *Emulator) handleARM(w http.ResponseWriter, r *http.Request) {
	e.begin(w, r)
	if e.handleOperation(w, r) {
		return
	}
	if sub, typeName, ok := listPath(r.URL.Path); ok {
		e.handleList(w, r, sub, typeName)
		return
	}
	if e.handleExtra(w, r) {
		return
	}
	p, ok := parseARMPath(r.URL.Path)
	t := Types[p.res.typeName()]
	op, pathKey := t.operation(p.action)
	if !ok || op == "" {
		cloudError(w, http.StatusNotFound, "InvalidResourceType", "The resource type or action could not be found for api version '"+r.URL.Query().Get("api-version")+"'.")
		return
	}
	if r.Method != http.MethodPost {
		cloudError(w, http.StatusMethodNotAllowed, "HttpMethodNotAllowed", fmt.Sprintf("The requested resource does not support http method '%s'.", r.Method))
		return
	}
	if !e.checkAPIVersion(w, r, t.APIVersions) || !e.checkToken(w, r) || !e.admitThrottle(w, p.res.Subscription) {
		return
	}
	var opFault *Fault
	if op == opRegenerate && t.Regenerate.Answer == AnswerAsync {
		opFault = e.takeOperationFault(p)
	}
	if opFault == nil && e.servedFault(w, r, p) {
		return
	}
	if op == opRegenerate {
		e.regenerateKeys(w, r, p, pathKey, opFault)
		return
	}
	if e.listKeys(w, p) {
		e.emitARMAction(r, p)
	}
}

// servedFault serves the resource's next fault, or a chaos one, and
// reports whether it did.
func (e *Emulator) servedFault(w http.ResponseWriter, r *http.Request, p armPath) bool {
	e.mu.Lock()
	if e.operationFaultNext(p) {
		e.mu.Unlock()
		return false
	}
	f, faulted := e.nextFault(p.res.key(), p.action[0])
	if !faulted {
		f, faulted = e.chaosFault(p.res.Subscription)
	}
	e.mu.Unlock()
	switch {
	case !faulted:
		return false
	case f.Kind == FaultBadKey:
		e.listKeysWith(w, p, f.Field, f.Value)
		return true
	case f.Kind == FaultHold:
		e.hold(r, p.res.key())
		return false
	}
	return e.serveFault(w, r, f)
}

func (e *Emulator) delay(r *http.Request) {
	e.mu.Lock()
	d := e.latency
	e.mu.Unlock()
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	case <-e.closing:
	}
}

// checkAPIVersion answers ARM's CloudError for a missing api-version or
// one the type does not accept.
func (e *Emulator) checkAPIVersion(w http.ResponseWriter, r *http.Request, accepted []string) bool {
	v := r.URL.Query().Get("api-version")
	switch {
	case v == "":
		cloudError(w, http.StatusBadRequest, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.")
	case !slices.Contains(accepted, v):
		cloudError(w, http.StatusBadRequest, "InvalidApiVersionParameter", fmt.Sprintf("The api-version '%s' is invalid. The supported versions are '%s'.", v, strings.Join(accepted, ",")))
	default:
		return true
	}
	return false
}

func (e *Emulator) checkToken(w http.ResponseWriter, r *http.Request) bool {
	h := r.Header.Get("Authorization")
	if h == "" {
		w.Header().Set("WWW-Authenticate", `Bearer authorization_uri="https://login.microsoftonline.com/common", error="invalid_token", error_description="The authentication failed because of missing 'Authorization' header."`)
		cloudError(w, http.StatusUnauthorized, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
		return false
	}
	raw, ok := strings.CutPrefix(h, "Bearer ")
	e.mu.Lock()
	tok, known := e.tokens[raw]
	e.mu.Unlock()
	switch {
	case !ok || !known:
		cloudError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "The access token is invalid.")
	case time.Now().After(tok.expires):
		cloudError(w, http.StatusUnauthorized, "ExpiredAuthenticationToken", "The access token expiry UTC time is earlier than current UTC time.")
	case strings.TrimRight(tok.resource, "/") != strings.TrimRight(e.Audience, "/"):
		cloudError(w, http.StatusUnauthorized, "InvalidAuthenticationTokenAudience", fmt.Sprintf("The access token has been obtained for wrong audience or resource '%s'. It should exactly match with one of the allowed audiences '%s'.", tok.resource, e.Audience))
	default:
		return true
	}
	return false
}

func (e *Emulator) requestID() string {
	e.mu.Lock()
	e.reqSeq++
	n := e.reqSeq
	e.mu.Unlock()
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", n)
}

// cloudError writes ARM's error envelope.
func cloudError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": code, "message": msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

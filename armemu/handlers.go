package armemu

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/keysync/keysync/sources"
)

func (e *Emulator) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/msi/token", e.handleToken)
	mux.HandleFunc("/subscriptions/", e.handleARM)
	mux.Handle("/_emulator/", e.adminRoutes())
	return mux
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
	e.tokens[tok] = token{resource: q.Get("resource"), expires: exp}
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok,
		"expires_on":   strconv.FormatInt(exp.Unix(), 10),
		"resource":     q.Get("resource"),
		"token_type":   "Bearer",
		"client_id":    q.Get("client_id"),
	})
}

// armPath is a parsed keys action path.
type armPath struct {
	resource sources.Account
	action   string
}

// parseARMPath reads /subscriptions/{s}/resourceGroups/{rg}/providers/
// {namespace}/{type}/{name}[/{child}/{rule}]/{action} for the types keysync
// knows. ARM matches the literal segments case-insensitively, and so does
// this.
func parseARMPath(p string) (armPath, bool) {
	seg := strings.Split(strings.Trim(p, "/"), "/")
	if (len(seg) != 9 && len(seg) != 11) || !strings.EqualFold(seg[0], "subscriptions") ||
		!strings.EqualFold(seg[2], "resourceGroups") || !strings.EqualFold(seg[4], "providers") {
		return armPath{}, false
	}
	provider := seg[5] + "/" + seg[6]
	for name, t := range sources.Types {
		if !strings.EqualFold(t.Provider, provider) || (t.Child != "") != (len(seg) == 11) {
			continue
		}
		r := sources.Account{SubscriptionID: seg[1], ResourceGroup: seg[3], Name: seg[7], Type: name}
		if t.Child != "" {
			if !strings.EqualFold(seg[8], t.Child) {
				return armPath{}, false
			}
			r.Rule = seg[9]
		}
		if name == sources.DefaultType {
			r.Type = ""
		}
		return armPath{resource: r, action: seg[len(seg)-1]}, true
	}
	return armPath{}, false
}

func (e *Emulator) handleARM(w http.ResponseWriter, r *http.Request) {
	e.record(r)
	e.delay(r)
	reqID := e.requestID()
	w.Header().Set("x-ms-request-id", reqID)
	w.Header().Set("x-ms-correlation-request-id", reqID)
	p, ok := parseARMPath(r.URL.Path)
	kind := p.resource.Kind()
	if !ok || (!strings.EqualFold(p.action, kind.Action) && !strings.EqualFold(p.action, "regenerateKeys")) {
		cloudError(w, http.StatusNotFound, "InvalidResourceType", "The resource type or action could not be found for api version '"+r.URL.Query().Get("api-version")+"'.")
		return
	}
	if r.Method != http.MethodPost {
		cloudError(w, http.StatusMethodNotAllowed, "HttpMethodNotAllowed", fmt.Sprintf("The requested resource does not support http method '%s'.", r.Method))
		return
	}
	if !e.checkAPIVersion(w, r, kind.APIVersion) || !e.checkToken(w, r) || !e.admitThrottle(w, p.resource.SubscriptionID) {
		return
	}
	e.mu.Lock()
	f, faulted := e.nextFault(idKey(p.resource), p.action)
	if !faulted {
		f, faulted = e.chaosFault()
	}
	e.mu.Unlock()
	if faulted && f.Kind == FaultBadKey {
		e.listKeysWith(w, p, f.Field, f.Value)
		return
	}
	if faulted && e.serveFault(w, r, f) {
		return
	}
	if strings.EqualFold(p.action, "regenerateKeys") {
		e.regenerateKeys(w, r, p)
		return
	}
	e.listKeys(w, p)
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

func (e *Emulator) checkAPIVersion(w http.ResponseWriter, r *http.Request, want string) bool {
	v := r.URL.Query().Get("api-version")
	switch {
	case v == "":
		cloudError(w, http.StatusBadRequest, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.")
	case v != want:
		cloudError(w, http.StatusBadRequest, "InvalidApiVersionParameter", fmt.Sprintf("The api-version '%s' is invalid. The supported versions are '%s'.", v, want))
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

func (e *Emulator) listKeys(w http.ResponseWriter, p armPath) { e.listKeysWith(w, p, "", "") }

// listKeysWith answers listKeys; a non-empty field gets value instead of
// its key (FaultBadKey).
func (e *Emulator) listKeysWith(w http.ResponseWriter, p armPath, field, value string) {
	e.mu.Lock()
	a, ok := e.accounts[idKey(p.resource)]
	var body any
	if ok && !a.SharedKeyDisabled {
		body = replaceKey(keysBody(a), field, value)
	}
	disabled := ok && a.SharedKeyDisabled
	e.mu.Unlock()
	switch {
	case !ok:
		cloudError(w, http.StatusNotFound, "ResourceNotFound", fmt.Sprintf("The Resource '%s/%s' under resource group '%s' was not found.",
			p.resource.Kind().Provider, p.resource.Name, p.resource.ResourceGroup))
	case disabled:
		status, code := disabledError(p.resource.Type)
		cloudError(w, status, code, fmt.Sprintf("Key-based authentication is disabled for '%s'.", p.resource.Name))
	default:
		writeJSON(w, http.StatusOK, body)
	}
}

// keysBody is the type's documented answer; a.mu is held.
func keysBody(a *Account) any {
	t := a.kind()
	if t.KeysArray {
		keys := []map[string]string{}
		for _, k := range keyFields(t) {
			keys = append(keys, map[string]string{"keyName": k, "value": a.Keys[k], "permissions": "FULL"})
		}
		return map[string]any{"keys": keys}
	}
	body := map[string]string{}
	for _, f := range t.Fields {
		body[f] = a.Keys[f]
	}
	if t.NameField != "" {
		body[t.NameField] = a.Name
	}
	if t.Child != "" {
		body["keyName"] = a.Rule
	}
	return body
}

// replaceKey puts value in place of field's key in a keysBody answer.
func replaceKey(body any, field, value string) any {
	if field == "" {
		return body
	}
	switch b := body.(type) {
	case map[string]string:
		b[field] = value
	case map[string]any:
		for _, k := range b["keys"].([]map[string]string) {
			if k["keyName"] == field {
				k["value"] = value
			}
		}
	}
	return body
}

// disabledError is what each type answers when its key authentication is
// off.
func disabledError(typ string) (int, string) {
	switch typ {
	case "", sources.DefaultType:
		return http.StatusConflict, "OperationNotAllowed"
	case "storage":
		return http.StatusConflict, "KeyBasedAuthenticationNotPermitted"
	case "cosmosdb":
		return http.StatusForbidden, "LocalAuthDisabled"
	default:
		return http.StatusBadRequest, "DisableLocalAuth"
	}
}

func (e *Emulator) regenerateKeys(w http.ResponseWriter, r *http.Request, p armPath) {
	var req struct {
		KeyName string `json:"keyName"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil || (req.KeyName != "Primary" && req.KeyName != "Secondary") {
		cloudError(w, http.StatusBadRequest, "InvalidRequestBody", "The request body must be {\"keyName\": \"Primary\"|\"Secondary\"}.")
		return
	}
	if _, err := e.RegenerateField(p.resource, strings.ToLower(req.KeyName)); err != nil {
		cloudError(w, http.StatusNotFound, "ResourceNotFound", fmt.Sprintf("The Resource '%s' was not found.", p.resource.ResourceID()))
		return
	}
	e.listKeys(w, p)
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

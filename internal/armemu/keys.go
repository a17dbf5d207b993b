package armemu

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// listKeys answers the keys action and reports whether it succeeded.
func (e *Emulator) listKeys(w http.ResponseWriter, p armPath) bool {
	return e.listKeysWith(w, p, "", "")
}

// listKeysWith answers the keys action; a non-empty field gets value
// instead of its key (FaultBadKey).
func (e *Emulator) listKeysWith(w http.ResponseWriter, p armPath, field, value string) bool {
	t := Types[p.res.typeName()]
	e.mu.Lock()
	a, ok := e.accounts[p.res.key()]
	var body any
	if ok && !a.KeysDisabled {
		body = replaceKey(keysBody(a, t), field, value)
	}
	disabled := ok && a.KeysDisabled
	e.mu.Unlock()
	switch {
	case !ok:
		cloudError(w, http.StatusNotFound, "ResourceNotFound", fmt.Sprintf("The Resource '%s/%s' under resource group '%s' was not found.",
			t.Provider, p.res.Name, p.res.ResourceGroup))
	case disabled:
		cloudError(w, t.Disabled.Status, t.Disabled.Code, fmt.Sprintf("Key-based authentication is disabled for '%s'.", p.res.Name))
	default:
		writeJSON(w, http.StatusOK, body)
		return true
	}
	return false
}

// keysBody is the type's documented answer; e.mu is held.
func keysBody(a *Account, t Type) any {
	if t.KeysArray {
		keys := []map[string]string{}
		for _, k := range t.Keys {
			keys = append(keys, map[string]string{"keyName": k, "value": a.Keys[k], "permissions": "Full"})
		}
		return map[string]any{"keys": keys}
	}
	body := map[string]string{}
	for _, f := range t.Fields() {
		body[f] = a.Keys[f]
	}
	for f, v := range map[string]string{t.NameField: a.Name, t.RuleField: a.Rule, t.IDField: a.ID()} {
		if f != "" {
			body[f] = v
		}
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

// regenerateKeys serves the type's regenerate action: the key named in the
// path or body, one of the names the spec accepts, gets a new value; the
// answer is the keys, or for a long-running action 202 and an operation
// (lro.go) that renews the key when it succeeds, failing under opFault.
func (e *Emulator) regenerateKeys(w http.ResponseWriter, r *http.Request, p armPath, pathKey string, opFault *Fault) {
	t := Types[p.res.typeName()]
	name, err := regenerateName(w, r, t.Regenerate, pathKey)
	field, known := t.Regenerate.Values[name]
	if err != nil || !known {
		cloudError(w, http.StatusBadRequest, "InvalidRequestBody", "The key to regenerate must be one of "+acceptedNames(t.Regenerate)+".")
		return
	}
	if a, ok := e.Get(p.res); ok && a.KeysDisabled {
		cloudError(w, t.Disabled.Status, t.Disabled.Code, fmt.Sprintf("Key-based authentication is disabled for '%s'.", p.res.Name))
		return
	}
	if _, ok := e.Get(p.res); !ok {
		cloudError(w, http.StatusNotFound, "ResourceNotFound", fmt.Sprintf("The Resource '%s' was not found.", p.res.ID()))
		return
	}
	if t.Regenerate.Answer == AnswerAsync {
		e.accept(w, r, p, field, opFault)
		return
	}
	if _, err := e.regenerate(p.res, field); err != nil {
		cloudError(w, http.StatusNotFound, "ResourceNotFound", fmt.Sprintf("The Resource '%s' was not found.", p.res.ID()))
		return
	}
	e.emitARMAction(r, p)
	e.listKeys(w, p)
}

// regenerateName is the key a regenerate request names: the path segment,
// or the body's BodyKey, the body bounded to 4 KiB.
func regenerateName(w http.ResponseWriter, r *http.Request, rg Regenerate, pathKey string) (string, error) {
	if rg.InPath {
		return pathKey, nil
	}
	var body map[string]json.RawMessage
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&body); err != nil {
		return "", err
	}
	var name string
	if err := json.Unmarshal(body[rg.BodyKey], &name); err != nil {
		return "", err
	}
	return name, nil
}

// acceptedNames lists a regenerate action's accepted names for an error
// message.
func acceptedNames(rg Regenerate) string {
	names := make([]string, 0, len(rg.Values))
	for v := range rg.Values {
		names = append(names, fmt.Sprintf("%q", v))
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

package armemu

import (
	"fmt"
	"maps"
	"net/http"
	"strings"
)

// storageEndpoints are the services of a Storage account's
// properties.primaryEndpoints that the emulator answers.
var storageEndpoints = []string{"blob", "queue", "table", "file"}

// defaultEndpoints are a Storage account's endpoints in Azure's public
// cloud, https://<name>.<service>.core.windows.net/; none for other types.
func defaultEndpoints(r Resource) map[string]string {
	if r.typeName() != "storage" {
		return nil
	}
	out := map[string]string{}
	for _, svc := range storageEndpoints {
		out[svc] = "https://" + r.Name + "." + svc + ".core.windows.net/"
	}
	return out
}

// SetEndpoints sets a Storage account's properties.primaryEndpoints (a
// test points blob at Azurite).
func (e *Emulator) SetEndpoints(r Resource, endpoints map[string]string) error {
	return e.withAccount(r, func(a *Account) error {
		a.Endpoints = maps.Clone(endpoints)
		return nil
	})
}

// handleGet serves GET on a Storage account, StorageAccounts_GetProperties
// (storage/resource-manager/Microsoft.Storage/Storage/stable/2026-06-01/openapi.json:
// 200 StorageAccount, whose properties.primaryEndpoints is an Endpoints
// object of blob, queue, table, file, web and dfs URLs), and reports
// whether it did: another path is not a GET the emulator knows.
func (e *Emulator) handleGet(w http.ResponseWriter, r *http.Request) bool {
	seg := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(seg) != 8 || !strings.EqualFold(seg[0], "subscriptions") || !strings.EqualFold(seg[2], "resourceGroups") ||
		!strings.EqualFold(seg[4], "providers") || !strings.EqualFold(seg[5]+"/"+seg[6], Types["storage"].Provider) {
		return false
	}
	res := Resource{Type: "storage", Subscription: seg[1], ResourceGroup: seg[3], Name: seg[7]}
	if !e.checkAPIVersion(w, r, Types["storage"].APIVersions) || !e.checkToken(w, r) {
		return true
	}
	e.mu.Lock()
	a, ok := e.accounts[res.key()]
	var body map[string]any
	if ok {
		body = map[string]any{"id": res.ID(), "name": res.Name, "type": Types["storage"].Provider, "location": "westeurope",
			"properties": map[string]any{"primaryEndpoints": maps.Clone(a.Endpoints)}}
	}
	e.mu.Unlock()
	if !ok {
		cloudError(w, http.StatusNotFound, "ResourceNotFound", fmt.Sprintf("The Resource '%s/%s' under resource group '%s' was not found.",
			Types["storage"].Provider, res.Name, res.ResourceGroup))
		return true
	}
	writeJSON(w, http.StatusOK, body)
	return true
}

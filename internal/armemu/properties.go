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
		e.disc.resources = nil // Resource Graph's rows carry them too
		return nil
	})
}

// handleExtra serves the calls on a resource besides its keys actions,
// and reports whether it did:
//   - GET on a Storage account, StorageAccounts_GetProperties
//     (storage/resource-manager/Microsoft.Storage/Storage/stable/2026-06-01/openapi.json:
//     200 StorageAccount, whose properties.primaryEndpoints is an
//     Endpoints object of blob, queue, table, file, web and dfs URLs);
//   - GET on a Redis cache, Redis_Get (redis/resource-manager/Microsoft.Cache/stable/2024-11-01/redis.json,
//     examples/RedisCacheGet.json: properties.hostName, port, sslPort);
//   - POST listConnectionStrings on a Cosmos DB account,
//     DatabaseAccounts_ListConnectionStrings (cosmos-db/resource-manager/Microsoft.DocumentDB/DocumentDB/stable/2025-10-15/cosmos-db.json,
//     examples/CosmosDBDatabaseAccountListConnectionStrings.json:
//     connectionStrings[] of connectionString, description, keyKind, type).
func (e *Emulator) handleExtra(w http.ResponseWriter, r *http.Request) bool {
	seg := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(seg) < 8 || !strings.EqualFold(seg[0], "subscriptions") || !strings.EqualFold(seg[2], "resourceGroups") ||
		!strings.EqualFold(seg[4], "providers") {
		return false
	}
	name, t, ok := typeByProvider(seg[5] + "/" + seg[6])
	if !ok {
		return false
	}
	res := Resource{Type: name, Subscription: seg[1], ResourceGroup: seg[3], Name: seg[7]}
	var body func(*Account) any
	switch {
	case len(seg) == 8 && r.Method == http.MethodGet && (name == "storage" || name == "redis"):
		body = resourceBody
	case len(seg) == 9 && r.Method == http.MethodPost && name == "cosmosdb" && strings.EqualFold(seg[8], "listConnectionStrings"):
		body = cosmosConnectionStrings
	default:
		return false
	}
	if !e.checkAPIVersion(w, r, t.APIVersions) || !e.checkToken(w, r) {
		return true
	}
	e.mu.Lock()
	a, found := e.accounts[res.key()]
	var answer any
	if found {
		answer = body(a)
	}
	e.mu.Unlock()
	if !found {
		cloudError(w, http.StatusNotFound, "ResourceNotFound", fmt.Sprintf("The Resource '%s/%s' under resource group '%s' was not found.",
			t.Provider, res.Name, res.ResourceGroup))
		return true
	}
	writeJSON(w, http.StatusOK, answer)
	return true
}

// resourceBody is a Storage account's or Redis cache's GET answer; e.mu
// is held.
func resourceBody(a *Account) any {
	props := map[string]any{"provisioningState": "Succeeded"}
	if a.typeName() == "storage" {
		props["primaryEndpoints"] = maps.Clone(a.Endpoints)
	} else {
		props["hostName"], props["port"], props["sslPort"] = a.Name+".redis.cache.windows.net", 6379, 6380
	}
	return map[string]any{"id": a.ID(), "name": a.Name, "type": Types[a.typeName()].Provider, "location": "westeurope", "properties": props}
}

// cosmosKinds are Cosmos DB's keys by the keyKind its connection strings
// name.
var cosmosKinds = [...][2]string{{"Primary", "primaryMasterKey"}, {"Secondary", "secondaryMasterKey"},
	{"Primary Read-Only", "primaryReadonlyMasterKey"}, {"Secondary Read-Only", "secondaryReadonlyMasterKey"}}

// cosmosConnectionStrings is a Cosmos DB account's SQL connection
// strings, one per key, as the portal shows them; e.mu is held.
func cosmosConnectionStrings(a *Account) any {
	var list []map[string]string
	for _, k := range cosmosKinds {
		list = append(list, map[string]string{
			"connectionString": "AccountEndpoint=https://" + a.Name + ".documents.azure.com:443/;AccountKey=" + a.Keys[k[1]] + ";",
			"description":      k[0] + " SQL Connection String",
			"keyKind":          strings.ReplaceAll(k[0], " Read-Only", "Readonly"),
			"type":             "Sql",
		})
	}
	return map[string]any{"connectionStrings": list}
}

// properties is the resource's properties column in Resource Graph: the
// properties of its GET answer (resourceBody) that the emulator keeps,
// provisioningState and, for a Storage account, primaryEndpoints. Resource
// Graph answers a resource's properties as ARM does ("Access a properties
// field", learn.microsoft.com/rest/api/azureresourcegraph/resourcegraph/resources/resources).
func (l *listed) properties() map[string]any {
	p := map[string]any{"provisioningState": "Succeeded"}
	if l.endpoints != nil {
		p["primaryEndpoints"] = l.endpoints
	}
	return p
}

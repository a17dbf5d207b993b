package armemu

import (
	"net/http"
	"strings"
)

// SetLinkHost makes the URLs the emulator answers to a request addressed
// to host (its Host header, as the client wrote it) name link instead:
// the nextLinks of every list and the long-running operations' status
// URLs. ARM answers such URLs with the default port written out
// (https://management.azure.com:443/..., as Azure SDK recordings show
// nextLink and Azure-AsyncOperation) or on a regional sub-host (Cosmos
// DB's regenerate in cosmos-db/resource-manager/Microsoft.DocumentDB/
// DocumentDB/stable/2025-10-15/examples/CosmosDBDatabaseAccountRegenerateKey.json
// answers https://centraluseuap.management.azure.com/...). A request
// addressed to link itself is answered with link, as any other host is.
// An empty link removes the setting.
func (e *Emulator) SetLinkHost(host, link string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.links == nil {
		e.links = map[string]string{}
	}
	if link == "" {
		delete(e.links, strings.ToLower(host))
		return
	}
	e.links[strings.ToLower(host)] = link
}

// withLinkHosts serves h with each request's Host replaced by the link
// host set for it: the handlers build every URL they answer from r.Host.
func (e *Emulator) withLinkHosts(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		link, ok := e.links[strings.ToLower(r.Host)]
		e.mu.Unlock()
		if ok {
			r = r.WithContext(r.Context())
			r.Host = link
		}
		h.ServeHTTP(w, r)
	})
}

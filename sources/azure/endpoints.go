package azure

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/keysync/keysync/sources"
)

// maxEndpointLen bounds one endpoint URL in an answer.
const maxEndpointLen = 512

// endpointServices are the properties.primaryEndpoints fields keysync
// takes: the services a Storage connection string names.
var endpointServices = []string{"blob", "queue", "table", "file"}

// Endpoints reads a Storage account's own endpoints,
// properties.primaryEndpoints of StorageAccounts_GetProperties (GET on the
// account; storage/resource-manager/Microsoft.Storage/Storage/stable/2026-06-01/openapi.json,
// definition Endpoints: blob, queue, table, file, web, dfs), by service.
// A connection string names these; keysync never guesses one. Every
// failure is a *sources.Error.
func (s *Source) Endpoints(ctx context.Context, a sources.Account) (map[string]string, error) {
	if err := s.pacer.wait(ctx, a.SubscriptionID); err != nil {
		return nil, &sources.Error{Err: err, Code: "Cancelled"}
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := runtime.NewRequest(ctx, http.MethodGet, runtime.JoinPaths(s.client.Endpoint(), a.ResourceID()))
	if err != nil {
		s.pacer.done(a.SubscriptionID, nil)
		return nil, &sources.Error{Err: fmt.Errorf("building request: %w", err)}
	}
	s.setAPIVersion(req, a)
	req.Raw().Header.Set("Accept", "application/json")
	runtime.SkipBodyDownload(req)
	var out map[string]string
	err = s.exchange(ctx, req, a.SubscriptionID, func(resp *http.Response, body []byte) error {
		if resp.StatusCode != http.StatusOK {
			return responseError(resp, body, nil, sources.TransientStatus(resp.StatusCode))
		}
		var perr error
		if out, perr = parseEndpoints(body); perr != nil {
			return responseError(resp, nil, perr, false)
		}
		return nil
	})
	return out, err
}

// parseEndpoints reads properties.primaryEndpoints: each service's URL,
// http or https, with a host and nothing that is not an endpoint (no user,
// query or fragment). An answer with none is an error.
func parseEndpoints(body []byte) (map[string]string, error) {
	var doc struct {
		Properties struct {
			PrimaryEndpoints map[string]json.RawMessage `json:"primaryEndpoints"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("account properties are not the expected JSON (%d bytes)", len(body))
	}
	out := map[string]string{}
	for _, svc := range endpointServices {
		var v string
		if raw, ok := doc.Properties.PrimaryEndpoints[svc]; !ok || json.Unmarshal(raw, &v) != nil || v == "" {
			continue
		}
		u, err := url.Parse(v)
		if len(v) > maxEndpointLen || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
			u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("account properties give an unusable %s endpoint", svc)
		}
		out[svc] = v
	}
	if out["blob"] == "" {
		return nil, fmt.Errorf("account properties give no blob endpoint")
	}
	return out, nil
}

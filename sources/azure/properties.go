package azure

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/keysync/keysync/secret"
	"github.com/keysync/keysync/sources"
)

// maxEndpointLen bounds one endpoint URL in an answer.
const maxEndpointLen = 512

// endpointServices are the properties.primaryEndpoints fields keysync
// takes: the services a Storage connection string names.
var endpointServices = []string{"blob", "queue", "table", "file"}

// Properties reads what a connection string names of a resource, from
// the resource's GET; keysync never guesses any of it:
//   - Storage, StorageAccounts_GetProperties
//     (storage/resource-manager/Microsoft.Storage/Storage/stable/2026-06-01/openapi.json,
//     definition Endpoints): properties.primaryEndpoints' blob, queue,
//     table and file URLs, by service;
//   - Redis, Redis_Get (redis/resource-manager/Microsoft.Cache/stable/2024-11-01/redis.json,
//     examples/RedisCacheGet.json): properties.hostName and sslPort.
//
// Every failure is a *sources.Error.
func (s *Source) Properties(ctx context.Context, a sources.Account) (map[string]string, error) {
	parse := parseEndpoints
	if a.Spec().Provider == sources.Types["redis"].Provider {
		parse = parseRedis
	}
	var out map[string]string
	err := s.call(ctx, a, http.MethodGet, "", func(body []byte) (err error) {
		out, err = parse(body)
		return err
	})
	return out, err
}

// ConnectionStrings calls a Cosmos DB account's listConnectionStrings,
// DatabaseAccounts_ListConnectionStrings (cosmos-db/resource-manager/Microsoft.DocumentDB/DocumentDB/stable/2025-10-15/cosmos-db.json,
// examples/CosmosDBDatabaseAccountListConnectionStrings.json), and returns
// each connection string by keyKind and type, "Primary/Sql". Every
// failure is a *sources.Error; none quotes the answer.
func (s *Source) ConnectionStrings(ctx context.Context, a sources.Account) (secret.Fields, error) {
	var out secret.Fields
	err := s.call(ctx, a, http.MethodPost, "listConnectionStrings", func(body []byte) (err error) {
		out, err = parseConnectionStrings(body)
		return err
	})
	return out, err
}

// call sends method to a's resource id (and action, when set), paced and
// bounded like a keys call, and hands a 200's body to parse.
func (s *Source) call(ctx context.Context, a sources.Account, method, action string, parse func([]byte) error) error {
	if err := s.pacer.wait(ctx, a.SubscriptionID); err != nil {
		return &sources.Error{Err: err, Code: "Cancelled"}
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	u := runtime.JoinPaths(s.client.Endpoint(), a.ResourceID())
	if action != "" {
		u = runtime.JoinPaths(u, action)
	}
	req, err := runtime.NewRequest(ctx, method, u)
	if err != nil {
		s.pacer.done(a.SubscriptionID, nil)
		return &sources.Error{Err: fmt.Errorf("building request: %w", err)}
	}
	s.setAPIVersion(req, a)
	req.Raw().Header.Set("Accept", "application/json")
	runtime.SkipBodyDownload(req)
	return s.exchange(ctx, req, a.SubscriptionID, func(resp *http.Response, body []byte) error {
		if resp.StatusCode != http.StatusOK {
			return responseError(resp, body, nil, sources.TransientStatus(resp.StatusCode))
		}
		if err := parse(body); err != nil {
			return responseError(resp, nil, err, false)
		}
		return nil
	})
}

// parseEndpoints reads a GET answer's properties.primaryEndpoints
// (endpointsOf).
func parseEndpoints(body []byte) (map[string]string, error) {
	var doc struct {
		Properties struct {
			PrimaryEndpoints map[string]json.RawMessage `json:"primaryEndpoints"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("account properties are not the expected JSON (%d bytes)", len(body))
	}
	return endpointsOf(doc.Properties.PrimaryEndpoints)
}

// endpointsOf reads a primaryEndpoints object, from a GET answer or a
// discovery's row alike: each service's URL, http or https, with a host
// and nothing that is not an endpoint (no user, query or fragment).
// Endpoints without a blob endpoint are an error.
func endpointsOf(primary map[string]json.RawMessage) (map[string]string, error) {
	out := map[string]string{}
	for _, svc := range endpointServices {
		var v string
		if raw, ok := primary[svc]; !ok || json.Unmarshal(raw, &v) != nil || v == "" {
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

// dnsRE is a host name.
var dnsRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$`)

// parseRedis reads a Redis cache's properties.hostName and sslPort.
func parseRedis(body []byte) (map[string]string, error) {
	var doc struct {
		Properties struct {
			HostName string `json:"hostName"`
			SSLPort  int    `json:"sslPort"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("cache properties are not the expected JSON (%d bytes)", len(body))
	}
	p := doc.Properties
	if len(p.HostName) > 253 || !dnsRE.MatchString(p.HostName) || p.SSLPort < 1 || p.SSLPort > 65535 {
		return nil, fmt.Errorf("cache properties give no usable hostName and sslPort")
	}
	return map[string]string{"hostName": p.HostName, "sslPort": strconv.Itoa(p.SSLPort)}, nil
}

// maxConnectionStrings bounds a listConnectionStrings answer's entries.
const maxConnectionStrings = 64

// parseConnectionStrings reads connectionStrings[]: each non-empty
// connectionString by keyKind/type, both of bounded plain names.
func parseConnectionStrings(body []byte) (secret.Fields, error) {
	var doc struct {
		ConnectionStrings []struct {
			ConnectionString string `json:"connectionString"`
			KeyKind          string `json:"keyKind"`
			Type             string `json:"type"`
		} `json:"connectionStrings"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || len(doc.ConnectionStrings) > maxConnectionStrings {
		return nil, fmt.Errorf("connection strings answer is not the expected JSON (%d bytes)", len(body))
	}
	out := secret.Fields{}
	for i, cs := range doc.ConnectionStrings {
		name := cs.KeyKind + "/" + cs.Type
		if cs.ConnectionString == "" || !sources.ValidFieldName(strings.ReplaceAll(name, "/", "-")) {
			return nil, fmt.Errorf("connection strings answer entry %d is unusable", i)
		}
		out[name] = secret.New(cs.ConnectionString)
	}
	return out, nil
}

package azure

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/keysync/keysync/internal/oneline"
)

// hostGuard is a per-retry policy of ARM's pipeline only (the credential's
// token requests go to Entra or the managed-identity endpoint and never
// pass it): it fails every request that is not https to ARM's endpoint,
// host and port compared exactly (an absent port is the scheme's default,
// so https://management.azure.com:443 is https://management.azure.com, as
// ARM writes its links either way), or to a documented regional sub-host
// of it. azcore runs it after the bearer-token policy and before the
// transport, so that a refused request, though it holds ARM's token in its
// header, never leaves the process. Every ARM call keysync makes goes
// through it: listKeys, regenerate, the polls of a long-running one,
// Resource Graph's pages, the list APIs' nextLinks, the subscriptions.
type hostGuard struct {
	host, port string
	regional   bool
}

// regionalHosts are the ARM hosts Azure answers regional sub-hosts of,
// {region}.{host}: Microsoft's own pages send ARM requests to
// https://centraluseuap.management.azure.com/subscriptions/...
// (learn.microsoft.com/azure/chaos-studio/chaos-studio-private-link-agent-service),
// and long-running operations (Cosmos DB's) may answer such URLs. No page
// shows one for the other clouds or for an endpoint of the file's own, so
// there the host must be the endpoint's.
var regionalHosts = map[string]bool{"management.azure.com": true}

// regionRE is one DNS label of a region's name, as ARM's locations name
// them ("westeurope", "centraluseuap").
var regionRE = regexp.MustCompile(`^[a-z][a-z0-9]{1,39}$`)

// newHostGuard guards requests for endpoint, ARM's base URL.
func newHostGuard(endpoint string) (*hostGuard, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("ARM endpoint %q is not a URL", oneline.Clean(endpoint))
	}
	host := strings.ToLower(u.Hostname())
	return &hostGuard{host: host, port: portOf(u), regional: regionalHosts[host]}, nil
}

// Do implements policy.Policy.
func (g *hostGuard) Do(req *policy.Request) (*http.Response, error) {
	if err := g.check(req.Raw().URL); err != nil {
		return nil, err
	}
	return req.Next()
}

// check reports whether ARM's token may go to u. It is the one decision
// for every request of the pipeline and for every URL an answer names
// before keysync follows it: a list's or the subscriptions' nextLink
// (Source.nextLink), a long-running operation's polling URL (pollURL).
func (g *hostGuard) check(u *url.URL) error {
	if u == nil {
		return &ForeignHostError{Host: "no URL"}
	}
	if !strings.EqualFold(u.Scheme, "https") || u.User != nil || u.Opaque != "" || portOf(u) != g.port || !g.allows(strings.ToLower(u.Hostname())) {
		return &ForeignHostError{Scheme: u.Scheme, Host: u.Host}
	}
	return nil
}

// allows reports whether host is ARM's, or a regional sub-host of it
// where Azure has them.
func (g *hostGuard) allows(host string) bool {
	if host == g.host {
		return true
	}
	region, ok := strings.CutSuffix(host, "."+g.host)
	return ok && g.regional && regionRE.MatchString(region)
}

// portOf is u's port, or its scheme's default.
func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "http") {
		return "80"
	}
	return "443"
}

// ForeignHostError is a request keysync refused to send, because ARM's
// bearer token would go to a host that is not ARM's.
type ForeignHostError struct {
	// Scheme and Host (with its port) are the refused URL's: never its
	// user info, path or query, which are the answer's and may be long
	// or secret.
	Scheme, Host string
}

func (e *ForeignHostError) Error() string {
	return fmt.Sprintf("refused to send ARM's token to %s: not ARM's endpoint", describeHost(e.Scheme, e.Host))
}

// describeHost names a refused host for a message: cleaned and bounded.
func describeHost(scheme, host string) string {
	s := host
	if scheme != "" {
		s = scheme + "://" + host
	}
	return fmt.Sprintf("%q", oneline.Clean(clipRunes(s, 100)))
}

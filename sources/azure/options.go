package azure

import (
	"cmp"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/keysync/keysync/config"
)

// Options configures a Source: the file's [azure] section as it is, and
// what the program wires in beside it.
type Options struct {
	// Azure is [azure]: Cloud (one of config.CloudNames; Endpoint and
	// Audience override its Resource Manager entry), APIVersion (see
	// sources.APIVersionFor), Credential and ClientID (the azidentity
	// credential), Timeout (one request, the token included; 30 s when 0),
	// RequestsPerSecond and Burst (see pacer; 0 requests a second turns
	// pacing off). Its other keys are not the source's.
	config.Azure
	// Version is keysync's own, sent in the User-Agent.
	Version string
	// Transport replaces the HTTP client (tests); either way it sits
	// under the guard that bounds bodies and refuses redirects.
	Transport policy.Transporter
	// Observe, when set, hears the outcome of every ARM request (not the
	// token requests): the HTTP status, or "error" when none came back.
	Observe func(code string)
	// Connections is how many idle keep-alive connections to keep to ARM;
	// set it to the concurrency. 0 keeps azcore's default.
	Connections int
}

// defaultTimeout bounds one request when Options names no timeout.
const defaultTimeout = 30 * time.Second

// moduleName is keysync's name in azcore's User-Agent, which reads
// "azsdk-go-keysync/<version> (<go version>; <os>)".
const moduleName = "keysync"

// clouds maps the names accepted in [azure] cloud to azcore's configurations.
var clouds = map[string]cloud.Configuration{
	config.CloudPublic:       cloud.AzurePublic,
	config.CloudChina:        cloud.AzureChina,
	config.CloudUSGovernment: cloud.AzureGovernment,
}

// moduleVersionRE is the form azcore accepts for a module's version
// (azcore/internal/shared.ValidateModVer): v, three numbers, an optional
// pre-release suffix. arm.NewClient refuses any other.
var moduleVersionRE = regexp.MustCompile(`^v\d+\.\d+\.\d+(?:-[a-zA-Z0-9_.-]+)?$`)

// userAgentVersion is the build's version in the form azcore accepts: as
// it is when it has that form ("v1.4.2", a Go pseudo-version), with a v
// when it lacks only that ("1.4.2"), else after "v0.0.0-" ("dev" is
// "v0.0.0-dev"). Characters a suffix may not hold become '-'; at most 64
// are kept. The build sets it, but a bad one must not stop keysync.
func userAgentVersion(version string) string {
	if version == "" {
		version = "dev"
	}
	v := strings.Map(func(r rune) rune {
		if r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_') {
			return r
		}
		return '-'
	}, version)
	v = v[:min(len(v), 64)]
	switch {
	case moduleVersionRE.MatchString(v):
		return v
	case moduleVersionRE.MatchString("v" + v):
		return "v" + v
	}
	return "v0.0.0-" + v
}

func clientOptions(o Options) (azcore.ClientOptions, error) {
	cfg, err := cloudConfig(o)
	if err != nil {
		return azcore.ClientOptions{}, err
	}
	return azcore.ClientOptions{
		Cloud: cfg,
		// keysync's runner owns every retry, so that Retry-After, backoff and
		// throttling are decided in one place and never stack.
		Retry: policy.RetryOptions{MaxRetries: -1},
		// The credential's token requests go through the same guard as
		// ARM's: bounded bodies, no redirects.
		Transport: newGuardedTransport(o.Transport, o.Connections, cmp.Or(o.Timeout.Duration, defaultTimeout)),
		// Every request carries x-ms-client-request-id, so a failure can be
		// traced in ARM's logs from either side.
		PerCallPolicies:  []policy.Policy{runtime.NewRequestIDPolicy()},
		PerRetryPolicies: append([]policy.Policy{policyFunc(keepResponse)}, observePolicy(o.Observe)...),
		Logging:          policy.LogOptions{IncludeBody: false},
	}, nil
}

// cloudConfig is the named cloud (AzurePublic when none) with the file's
// Resource Manager endpoint and audience, and the authority host.
func cloudConfig(o Options) (cloud.Configuration, error) {
	name := o.Cloud
	if name == "" {
		name = config.CloudPublic
	}
	base, ok := clouds[name]
	if !ok {
		return cloud.Configuration{}, fmt.Errorf("unknown cloud %q", o.Cloud)
	}
	authority, err := authorityHost(base)
	if err != nil {
		return cloud.Configuration{}, err
	}
	rm := base.Services[cloud.ResourceManager]
	if o.Endpoint != "" {
		rm.Endpoint = o.Endpoint
	}
	if o.Audience != "" {
		rm.Audience = o.Audience
	}
	return cloud.Configuration{ActiveDirectoryAuthorityHost: authority,
		Services: map[cloud.ServiceName]cloud.ServiceConfiguration{cloud.ResourceManager: rm}}, nil
}

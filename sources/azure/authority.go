package azure

import (
	"fmt"
	"net/url"
	"os"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"

	"github.com/keysync/keysync/config"
)

// envAuthorityHost is azidentity's own variable for the Entra ID authority.
// azidentity reads it only when the cloud configuration names no authority,
// and keysync always names the cloud's, so keysync reads it itself.
const envAuthorityHost = "AZURE_AUTHORITY_HOST"

// authorityHost is AZURE_AUTHORITY_HOST when set (a private or sovereign
// authority), else the cloud's own. The file has no authority key, so the
// variable never overrides the file. Only an https URL is accepted: the
// authority receives the client's secret or assertion.
func authorityHost(base cloud.Configuration) (string, error) {
	v := os.Getenv(envAuthorityHost)
	if v == "" {
		return base.ActiveDirectoryAuthorityHost, nil
	}
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%s must be an https URL such as https://login.microsoftonline.com/, got %.80q", envAuthorityHost, v)
	}
	return v, nil
}

// AuthorityHost is the Entra ID authority of the named cloud (one of
// config.CloudNames; AzurePublic when empty), or AZURE_AUTHORITY_HOST when
// set, as the credential uses it. The Event Grid webhook takes its
// default token issuers and signing keys URL from it.
func AuthorityHost(cloudName string) (string, error) {
	cfg, err := cloudConfig(Options{Azure: config.Azure{Cloud: cloudName}})
	if err != nil {
		return "", err
	}
	return cfg.ActiveDirectoryAuthorityHost, nil
}

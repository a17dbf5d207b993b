package azure

import (
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/keysync/keysync/config"
)

// NewCredential builds the azidentity credential named by kind, one of
// config.CredentialKinds. clientID
// selects a user-assigned managed identity (or the workload identity's app);
// with kind "default" it makes keysync build the same chain as
// DefaultAzureCredential, with clientID passed to the identity credentials.
func NewCredential(kind, clientID string, opts azcore.ClientOptions) (azcore.TokenCredential, error) {
	switch kind {
	case config.CredentialDefault, "":
		if clientID == "" {
			return azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{ClientOptions: opts})
		}
		return defaultChain(clientID, opts)
	case config.CredentialEnvironment:
		return azidentity.NewEnvironmentCredential(&azidentity.EnvironmentCredentialOptions{ClientOptions: opts})
	case config.CredentialManagedIdentity:
		return managedIdentity(clientID, opts)
	case config.CredentialWorkloadIdentity:
		return azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{ClientOptions: opts, ClientID: clientID})
	case config.CredentialAzureCLI:
		return azidentity.NewAzureCLICredential(nil)
	}
	return nil, fmt.Errorf("unknown credential %q", kind)
}

func managedIdentity(clientID string, opts azcore.ClientOptions) (azcore.TokenCredential, error) {
	o := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: opts}
	if clientID != "" {
		o.ID = azidentity.ClientID(clientID)
	}
	return azidentity.NewManagedIdentityCredential(o)
}

// defaultChain mirrors DefaultAzureCredential's order (environment, workload
// identity, managed identity, Azure CLI) with a user-assigned client id.
func defaultChain(clientID string, opts azcore.ClientOptions) (azcore.TokenCredential, error) {
	var chain []azcore.TokenCredential
	if c, err := azidentity.NewEnvironmentCredential(&azidentity.EnvironmentCredentialOptions{ClientOptions: opts}); err == nil {
		chain = append(chain, c)
	}
	if c, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{ClientOptions: opts, ClientID: clientID}); err == nil {
		chain = append(chain, c)
	}
	mi, err := managedIdentity(clientID, opts)
	if err != nil {
		return nil, err
	}
	chain = append(chain, mi)
	if c, err := azidentity.NewAzureCLICredential(nil); err == nil {
		chain = append(chain, c)
	}
	return azidentity.NewChainedTokenCredential(chain, nil)
}

package vault

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/hashicorp/vault/api"

	"github.com/keysync/keysync/internal/oneline"
)

// DefaultAzureResource is the token audience Vault's Azure method expects
// unless its config says otherwise.
const DefaultAzureResource = "https://management.azure.com/"

const defaultIMDS = "http://169.254.169.254"

// Login implements api.AuthMethod.
func (l *azureLogin) Login(ctx context.Context, client *api.Client) (*api.Secret, error) {
	if l.o.Credential == nil {
		return nil, errNoCredential
	}
	resource := or(l.o.Resource, DefaultAzureResource)
	// resource + "/.default" keeps the resource exact (a trailing slash
	// included) in the token's audience, which Vault compares with its own.
	tok, err := l.o.Credential.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{resource + "/.default"}})
	if err != nil {
		return nil, fmt.Errorf("azure auth: managed-identity token for %s: %s", resource, oneline.First(err.Error()))
	}
	body := map[string]any{"role": l.o.Role, "jwt": tok.Token}
	id, err := l.identity(ctx)
	if err != nil {
		return nil, err
	}
	for k, v := range id {
		if v != "" {
			body[k] = v
		}
	}
	return client.Logical().WriteWithContext(ctx, "auth/"+l.mount+"/login", body)
}

// identity is the machine's subscription, resource group and VM or scale
// set (or a resource id) from the config, asking the instance metadata
// service only when the config names no machine.
func (l *azureLogin) identity(ctx context.Context) (map[string]string, error) {
	o := l.o
	id := map[string]string{"subscription_id": o.SubscriptionID, "resource_group_name": o.ResourceGroupName,
		"vm_name": o.VMName, "vmss_name": o.VMSSName, "resource_id": o.ResourceID}
	if o.ResourceID != "" || o.VMName != "" || o.VMSSName != "" {
		return id, nil
	}
	md, err := l.instanceMetadata(ctx)
	if err != nil {
		return nil, err
	}
	id["subscription_id"], id["resource_group_name"] = or(o.SubscriptionID, md.SubscriptionID), or(o.ResourceGroupName, md.ResourceGroupName)
	if md.VMScaleSetName != "" {
		id["vmss_name"] = md.VMScaleSetName
	} else {
		id["vm_name"] = md.Name
	}
	return id, nil
}

type computeMetadata struct {
	Name              string `json:"name"`
	ResourceGroupName string `json:"resourceGroupName"`
	SubscriptionID    string `json:"subscriptionId"`
	VMScaleSetName    string `json:"vmScaleSetName"`
}

func (l *azureLogin) instanceMetadata(ctx context.Context) (computeMetadata, error) {
	base := or(l.o.IMDSEndpoint, defaultIMDS)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metadata/instance/compute?api-version=2021-02-01", nil)
	if err != nil {
		return computeMetadata{}, err
	}
	req.Header.Set("Metadata", "true")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return computeMetadata{}, fmt.Errorf("azure auth: instance metadata (set subscription_id, resource_group_name and vm_name or vmss_name to skip it): %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return computeMetadata{}, fmt.Errorf("azure auth: instance metadata answered %s", resp.Status)
	}
	var md computeMetadata
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&md); err != nil {
		return computeMetadata{}, fmt.Errorf("azure auth: instance metadata: %w", err)
	}
	return md, nil
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

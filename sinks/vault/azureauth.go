package vault

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/hashicorp/vault/api"
)

// DefaultAzureResource is the token audience Vault's Azure method expects
// unless its config says otherwise.
const DefaultAzureResource = "https://management.azure.com/"

const defaultIMDS = "http://169.254.169.254"

// Login implements api.AuthMethod.
func (a *AzureLogin) Login(ctx context.Context, client *api.Client) (*api.Secret, error) {
	if a.Credential == nil {
		return nil, errNoCredential
	}
	resource := a.Resource
	if resource == "" {
		resource = DefaultAzureResource
	}
	// resource + "/.default" keeps the resource exact (a trailing slash
	// included) in the token's audience, which Vault compares with its own.
	tok, err := a.Credential.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{resource + "/.default"}})
	if err != nil {
		return nil, fmt.Errorf("azure auth: managed-identity token for %s: %s", resource, firstLine(err.Error()))
	}
	body := map[string]any{"role": a.role, "jwt": tok.Token}
	if err := a.identity(ctx, body); err != nil {
		return nil, err
	}
	return client.Logical().WriteWithContext(ctx, "auth/"+a.mount+"/login", body)
}

// identity fills subscription, resource group and VM or scale set (or a
// resource id) from the config, asking the instance metadata service only
// when the config names no machine.
func (a *AzureLogin) identity(ctx context.Context, body map[string]any) error {
	if a.ResourceID == "" && a.VMName == "" && a.VMSSName == "" {
		md, err := a.instanceMetadata(ctx)
		if err != nil {
			return err
		}
		a.SubscriptionID, a.ResourceGroupName = or(a.SubscriptionID, md.SubscriptionID), or(a.ResourceGroupName, md.ResourceGroupName)
		if md.VMScaleSetName != "" {
			a.VMSSName = md.VMScaleSetName
		} else {
			a.VMName = md.Name
		}
	}
	for k, v := range map[string]string{"subscription_id": a.SubscriptionID, "resource_group_name": a.ResourceGroupName,
		"vm_name": a.VMName, "vmss_name": a.VMSSName, "resource_id": a.ResourceID} {
		if v != "" {
			body[k] = v
		}
	}
	return nil
}

type computeMetadata struct {
	Name              string `json:"name"`
	ResourceGroupName string `json:"resourceGroupName"`
	SubscriptionID    string `json:"subscriptionId"`
	VMScaleSetName    string `json:"vmScaleSetName"`
}

func (a *AzureLogin) instanceMetadata(ctx context.Context) (computeMetadata, error) {
	base := or(a.IMDSEndpoint, defaultIMDS)
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

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

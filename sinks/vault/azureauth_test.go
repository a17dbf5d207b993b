package vault

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/keysync/keysync/config"
	"github.com/keysync/keysync/internal/armemu"
	"github.com/keysync/keysync/sources/azure"
)

// TestAzureLoginRequest: method azure gets a managed-identity token for the
// configured resource through the real azidentity credential (from the ARM
// emulator's App Service-style endpoint), and sends it with the role and the
// machine's identity: from the config, else from the instance metadata
// service.
func TestAzureLoginRequest(t *testing.T) {
	emu := armemu.New()
	if err := emu.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	t.Setenv("IDENTITY_ENDPOINT", emu.IdentityEndpoint())
	t.Setenv("IDENTITY_HEADER", emu.IdentityHeader)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(emu.CACertPEM())
	tr := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	cred, err := azure.NewCredential(config.CredentialManagedIdentity, "", azcore.ClientOptions{Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	imds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Metadata") != "true" || r.URL.Path != "/metadata/instance/compute" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"name": "vmss_3", "resourceGroupName": "rg-imds",
			"subscriptionId": "sub-imds", "vmScaleSetName": "keysync-vmss"})
	}))
	defer imds.Close()

	tests := []struct {
		name string
		opts AuthOptions
		want map[string]string
	}{
		{"from config", AuthOptions{VaultAuth: config.VaultAuth{SubscriptionID: "sub-1", ResourceGroupName: "rg-1", VMName: "vm-1"}},
			map[string]string{"subscription_id": "sub-1", "resource_group_name": "rg-1", "vm_name": "vm-1"}},
		{"from instance metadata", AuthOptions{IMDSEndpoint: imds.URL, VaultAuth: config.VaultAuth{Resource: "https://vault.example/"}},
			map[string]string{"subscription_id": "sub-imds", "resource_group_name": "rg-imds", "vmss_name": "keysync-vmss"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, c := standIn(t, "")
			o := tt.opts
			o.Method, o.Role, o.Credential = config.AuthAzure, "keysync", cred
			a := NewAuth(c, o, discard)
			if err := a.Login(context.Background()); err != nil {
				t.Fatal(err)
			}
			got := rec.last(t)
			if got.Path != "/v1/auth/azure/login" || got.Body["role"] != "keysync" {
				t.Fatalf("login request %+v", got)
			}
			for k, v := range tt.want {
				if got.Body[k] != v {
					t.Errorf("%s = %v, want %s", k, got.Body[k], v)
				}
			}
			if _, ok := got.Body["vm_name"]; ok && tt.want["vm_name"] == "" {
				t.Error("vm_name sent for a scale set")
			}
			jwt, _ := got.Body["jwt"].(string)
			res, issued := emu.TokenResource(jwt)
			wantRes := tt.opts.Resource
			if wantRes == "" {
				wantRes = DefaultAzureResource
			}
			if !issued || res != wantRes {
				t.Errorf("jwt is not a managed-identity token for %s (issued %t, for %q)", wantRes, issued, res)
			}
		})
	}
}

// TestAzureLoginTokenFailureIsOneCleanLine: azidentity's error quotes the
// token endpoint's whole answer on its later lines; the login error keeps
// the first line only, without control characters, and Vault is not asked.
func TestAzureLoginTokenFailureIsOneCleanLine(t *testing.T) {
	emu := armemu.New()
	if err := emu.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	t.Setenv("IDENTITY_ENDPOINT", emu.IdentityEndpoint())
	t.Setenv("IDENTITY_HEADER", emu.IdentityHeader)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(emu.CACertPEM())
	tr := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	cred, err := azure.NewCredential(config.CredentialManagedIdentity, "", azcore.ClientOptions{Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	const marker = "answer-body-marker"
	emu.InjectTokenFault("", armemu.Fault{Kind: armemu.FaultStatus, Status: http.StatusBadRequest, Message: "refused \x1b[2J " + marker})
	rec, c := standIn(t, "")
	o := AuthOptions{VaultAuth: config.VaultAuth{Method: config.AuthAzure, Role: "keysync", Resource: "https://one-line.example/",
		SubscriptionID: "sub-1", ResourceGroupName: "rg-1", VMName: "vm-1"}, Credential: cred}
	err = NewAuth(c, o, discard).Login(context.Background())
	if err == nil {
		t.Fatal("login succeeded without a token")
	}
	msg := err.Error()
	if strings.ContainsAny(msg, "\n\r\x1b") || strings.Contains(msg, marker) || !strings.Contains(msg, "managed-identity token for https://one-line.example/") {
		t.Fatalf("login error %q: want one clean line naming the resource, without the endpoint's answer", msg)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if n := len(rec.requests); n != 0 {
		t.Fatalf("%d requests reached Vault without a token", n)
	}
}

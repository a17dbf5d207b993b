package main

import (
	"slices"
	"testing"

	"github.com/keysync/keysync/config"
)

// TestEntraDefaults: without issuers and keys_url the webhook trusts the
// tenant's issuers and keys at the configured cloud's authority; given,
// they are kept as they are.
func TestEntraDefaults(t *testing.T) {
	t.Setenv("AZURE_AUTHORITY_HOST", "")
	const tenant = "11111111-2222-3333-4444-555555555555"
	tests := []struct {
		name, cloud string
		entra       config.EventsEntra
		issuers     []string
		keys        string
	}{
		{"public", config.CloudPublic, config.EventsEntra{Tenant: tenant, Audience: "api://k"},
			[]string{"https://login.microsoftonline.com/" + tenant + "/v2.0", "https://sts.windows.net/" + tenant + "/"},
			"https://login.microsoftonline.com/" + tenant + "/discovery/v2.0/keys"},
		{"china", config.CloudChina, config.EventsEntra{Tenant: tenant, Audience: "api://k"},
			[]string{"https://login.chinacloudapi.cn/" + tenant + "/v2.0"},
			"https://login.chinacloudapi.cn/" + tenant + "/discovery/v2.0/keys"},
		{"given", config.CloudPublic, config.EventsEntra{Tenant: tenant, Audience: "api://k", Issuers: []string{"https://issuer.test/"}, KeysURL: "https://keys.test/"},
			[]string{"https://issuer.test/"}, "https://keys.test/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := entraOptions(tt.entra, tt.cloud)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(o.Issuers, tt.issuers) || o.KeysURL != tt.keys || o.Audience != "api://k" {
				t.Fatalf("issuers %v keys %s audience %s; want %v %s", o.Issuers, o.KeysURL, o.Audience, tt.issuers, tt.keys)
			}
		})
	}
}

package main

import (
	"slices"
	"testing"

	"github.com/keysync/keysync/config"
)

// TestEntraDefaults: without issuers, keys_url and app_id the webhook
// trusts the tenant's v1.0 and v2.0 issuers in the configured cloud (a
// sovereign cloud's v1.0 issuer too: without it every v1.0 token there
// was refused) and at the authority keysync signs in at, the keys at
// that authority, and tokens issued to that cloud's Event Grid; given,
// they are kept as they are.
func TestEntraDefaults(t *testing.T) {
	const tenant = "11111111-2222-3333-4444-555555555555"
	tests := []struct {
		name, cloud string
		authority   string // AZURE_AUTHORITY_HOST
		entra       config.EventsEntra
		issuers     []string
		keys, app   string
	}{
		{"public", config.CloudPublic, "", config.EventsEntra{Tenant: tenant, Audience: "api://k"},
			[]string{"https://login.microsoftonline.com/" + tenant + "/v2.0", "https://sts.windows.net/" + tenant + "/"},
			"https://login.microsoftonline.com/" + tenant + "/discovery/v2.0/keys", "4962773b-9cdb-44cf-a8bf-237846a00ab7"},
		{"us government", config.CloudUSGovernment, "", config.EventsEntra{Tenant: tenant, Audience: "api://k"},
			[]string{"https://login.microsoftonline.us/" + tenant + "/v2.0", "https://sts.windows.net/" + tenant + "/"},
			"https://login.microsoftonline.us/" + tenant + "/discovery/v2.0/keys", "54316b56-3481-47f9-8f30-0300f5542a7b"},
		{"china", config.CloudChina, "", config.EventsEntra{Tenant: tenant, Audience: "api://k", AppID: "0b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b"},
			[]string{"https://login.partner.microsoftonline.cn/" + tenant + "/v2.0", "https://login.chinacloudapi.cn/" + tenant + "/v2.0",
				"https://sts.chinacloudapi.cn/" + tenant + "/"},
			"https://login.chinacloudapi.cn/" + tenant + "/discovery/v2.0/keys", "0b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b"},
		{"us government, another authority", config.CloudUSGovernment, "https://login.example/", config.EventsEntra{Tenant: tenant, Audience: "api://k"},
			[]string{"https://login.microsoftonline.us/" + tenant + "/v2.0", "https://sts.windows.net/" + tenant + "/", "https://login.example/" + tenant + "/v2.0"},
			"https://login.example/" + tenant + "/discovery/v2.0/keys", "54316b56-3481-47f9-8f30-0300f5542a7b"},
		{"given", config.CloudPublic, "", config.EventsEntra{Tenant: tenant, Audience: "api://k", Issuers: []string{"https://issuer.test/"}, KeysURL: "https://keys.test/",
			AppID: "0b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b"}, []string{"https://issuer.test/"}, "https://keys.test/", "0b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("AZURE_AUTHORITY_HOST", tt.authority)
			o, err := entraOptions(tt.entra, tt.cloud)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(o.Issuers)
			slices.Sort(tt.issuers)
			if !slices.Equal(o.Issuers, tt.issuers) || o.KeysURL != tt.keys || o.Audience != "api://k" || o.AppID != tt.app {
				t.Fatalf("issuers %v keys %s audience %s app %s; want %v %s %s", o.Issuers, o.KeysURL, o.Audience, o.AppID, tt.issuers, tt.keys, tt.app)
			}
		})
	}
}

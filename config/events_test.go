package config

import (
	"strings"
	"testing"
)

// TestEventsSection: [events] is refused when its path could not be
// served (a reserved endpoint, or a path the HTTP mux would never match
// and refuses to register), when nothing authenticates a delivery, or when
// its keys would come over plain http.
func TestEventsSection(t *testing.T) {
	const on = "[events]\nenabled = true\nsecret_file = \"/etc/keysync/events-secret\"\nsecret_header = \"X-Keysync-Secret\"\n"
	const listen = "listen = \"127.0.0.1:10719\"\n"
	const entra = "[events.entra]\ntenant = \"11111111-2222-3333-4444-555555555555\"\naudience = \"api://k\"\n"
	tests := []struct {
		name    string
		text    string
		wantErr string
	}{
		{name: "off", text: ""},
		{name: "on", text: listen + on},
		{name: "own path", text: listen + on + "path = \"/hooks/event-grid.v1\"\n"},
		{name: "dot segment", text: listen + on + "path = \"/events/./eventgrid\"\n", wantErr: "events.path"},
		{name: "dot-dot segment", text: listen + on + "path = \"/events/../eventgrid\"\n", wantErr: "events.path"},
		{name: "dot-dot alone", text: listen + on + "path = \"/..\"\n", wantErr: "events.path"},
		{name: "trailing dot", text: listen + on + "path = \"/events/.\"\n", wantErr: "events.path"},
		{name: "reserved", text: listen + on + "path = \"/sync\"\n", wantErr: "events.path"},
		{name: "under a reserved one", text: listen + on + "path = \"/metrics/x\"\n", wantErr: "events.path"},
		{name: "no listen", text: "listen = \"\"\n" + on, wantErr: "events.enabled: needs listen"},
		{name: "no authentication", text: listen + "[events]\nenabled = true\n", wantErr: "enabled needs secret_file or [events.entra]"},
		{name: "secret in Authorization", text: listen + strings.Replace(on, "X-Keysync-Secret", "authorization", 1), wantErr: "events.secret_header"},
		{name: "entra in AzurePublic", text: listen + on + entra},
		{name: "entra in AzureUSGovernment", text: "azure.cloud = \"AzureUSGovernment\"\n" + listen + on + entra},
		{name: "entra in AzureChina without app_id", text: "azure.cloud = \"AzureChina\"\n" + listen + on + entra,
			wantErr: "events.entra.app_id: must be set for AzureChina"},
		{name: "entra in AzureChina with app_id", text: "azure.cloud = \"AzureChina\"\n" + listen + on + entra + "app_id = \"0b2c3d4e-0000-4000-8000-000000000001\"\n"},
		{name: "app_id not a GUID", text: listen + on + entra + "app_id = \"Microsoft.EventGrid\"\n", wantErr: "events.entra.app_id: must be an application id"},
		{name: "app_id without entra", text: listen + on + "[events.entra]\napp_id = \"0b2c3d4e-0000-4000-8000-000000000001\"\n", wantErr: "app_id need tenant and audience"},
		{name: "keys over http", text: listen + on + "[events.entra]\ntenant = \"11111111-2222-3333-4444-555555555555\"\naudience = \"api://k\"\nkeys_url = \"http://login.example/keys\"\n", wantErr: "events.entra.keys_url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.text + minimalAccount)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatal(err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
		})
	}
}

package config

import (
	"strings"
	"testing"
	"time"
)

// minimalAccount is one valid account, so that only [api] is under test.
const minimalAccount = `
[[account]]
subscription_id = "00000000-0000-0000-0000-000000000000"
resource_group = "rg"
name = "acct1"
path = "azure/batch/acct1"
`

func TestAPISection(t *testing.T) {
	tests := []struct {
		name         string
		text         string
		wantInterval time.Duration
		wantToken    string
		wantErr      string
	}{
		{name: "defaults", text: "", wantInterval: 10 * time.Second},
		{name: "set", text: "[api]\ntoken_file = \"/run/keysync/token\"\nsync_min_interval = \"1m\"\n", wantInterval: time.Minute, wantToken: "/run/keysync/token"},
		{name: "too short", text: "[api]\nsync_min_interval = \"100ms\"\n", wantErr: "api.sync_min_interval: must be between 1s and 24h0m0s, got 100ms"},
		{name: "zero", text: "[api]\nsync_min_interval = \"0s\"\n", wantErr: "api.sync_min_interval: must be between 1s and 24h0m0s, got 0s"},
		{name: "too long", text: "[api]\nsync_min_interval = \"48h\"\n", wantErr: "api.sync_min_interval: must be between 1s and 24h0m0s, got 48h0m0s"},
		{name: "unknown key", text: "[api]\ntoken = \"inline\"\n", wantErr: "api.token: unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse(tt.text + minimalAccount)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.API.SyncMinInterval.Duration != tt.wantInterval || cfg.API.TokenFile != tt.wantToken {
				t.Fatalf("api = %+v", cfg.API)
			}
		})
	}
}

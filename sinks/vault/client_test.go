package vault

import (
	"testing"
	"time"
)

func TestClientTimeoutFromFileEnvOrDefault(t *testing.T) {
	tests := []struct {
		name string
		file time.Duration
		env  string
		want time.Duration
	}{
		{name: "neither: keysync's default", want: DefaultTimeout},
		{name: "VAULT_CLIENT_TIMEOUT where the file is silent", env: "7s", want: 7 * time.Second},
		{name: "VAULT_CLIENT_TIMEOUT in plain seconds", env: "12", want: 12 * time.Second},
		{name: "the file wins", file: 5 * time.Second, env: "7s", want: 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("VAULT_CLIENT_TIMEOUT", tt.env)
			c, err := NewClient(ClientOptions{Address: "http://127.0.0.1:1", Timeout: tt.file})
			if err != nil {
				t.Fatal(err)
			}
			if got := c.ClientTimeout(); got != tt.want {
				t.Fatalf("timeout %v, want %v", got, tt.want)
			}
		})
	}
}

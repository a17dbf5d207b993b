package azure

import (
	"strings"
	"testing"

	"github.com/keysync/keysync/config"
)

func TestAuthorityHostFromEnvironment(t *testing.T) {
	tests := []struct {
		name, env, want, err string
	}{
		{name: "unset: the cloud's own", want: "https://login.microsoftonline.com/"},
		{name: "set: a private authority", env: "https://login.example.test/", want: "https://login.example.test/"},
		{name: "plain http refused", env: "http://login.example.test/", err: "must be an https URL"},
		{name: "no host refused", env: "https://", err: "must be an https URL"},
		{name: "query refused", env: "https://login.example.test/?x=1", err: "must be an https URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(envAuthorityHost, tt.env)
			opts, err := clientOptions(Options{Azure: config.Azure{Cloud: config.CloudPublic}})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := opts.Cloud.ActiveDirectoryAuthorityHost; got != tt.want {
				t.Fatalf("authority %q, want %q", got, tt.want)
			}
		})
	}
}

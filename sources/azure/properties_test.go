package azure

import (
	"strings"
	"testing"
)

func TestParseProperties(t *testing.T) {
	tests := []struct {
		name  string
		parse func([]byte) (map[string]string, error)
		body  string
		want  string // a property "k=v", or "" for an error
	}{
		{"storage endpoints", parseEndpoints, `{"properties":{"primaryEndpoints":{"blob":"https://a.blob.core.windows.net/","web":"https://x/"}}}`, "blob=https://a.blob.core.windows.net/"},
		{"storage without blob", parseEndpoints, `{"properties":{"primaryEndpoints":{"queue":"https://a.queue.core.windows.net/"}}}`, ""},
		{"storage endpoint with a user", parseEndpoints, `{"properties":{"primaryEndpoints":{"blob":"https://u:p@a.blob.core.windows.net/"}}}`, ""},
		{"storage endpoint of another scheme", parseEndpoints, `{"properties":{"primaryEndpoints":{"blob":"file:///etc/passwd"}}}`, ""},
		{"storage endpoint too long", parseEndpoints, `{"properties":{"primaryEndpoints":{"blob":"https://a/` + strings.Repeat("x", 600) + `"}}}`, ""},
		{"redis", parseRedis, `{"properties":{"hostName":"cache1.redis.cache.windows.net","port":6379,"sslPort":6380}}`, "sslPort=6380"},
		{"redis host with a path", parseRedis, `{"properties":{"hostName":"evil.example/x","sslPort":6380}}`, ""},
		{"redis port out of range", parseRedis, `{"properties":{"hostName":"cache1.redis.cache.windows.net","sslPort":70000}}`, ""},
		{"not JSON", parseRedis, `<html>`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.parse([]byte(tt.body))
			if tt.want == "" {
				if err == nil {
					t.Fatalf("accepted: %v", got)
				}
				return
			}
			k, v, _ := strings.Cut(tt.want, "=")
			if err != nil || got[k] != v {
				t.Fatalf("%v, %v", got, err)
			}
		})
	}
}

func TestParseConnectionStrings(t *testing.T) {
	got, err := parseConnectionStrings([]byte(`{"connectionStrings":[{"connectionString":"AccountEndpoint=https://d.documents.azure.com:443/;AccountKey=k;","description":"Primary SQL Connection String","keyKind":"Primary","type":"Sql"}]}`))
	if err != nil || got["Primary/Sql"].Reveal() != "AccountEndpoint=https://d.documents.azure.com:443/;AccountKey=k;" {
		t.Fatalf("%v, %v", got.Names(), err)
	}
	for _, bad := range []string{`{"connectionStrings":[{"connectionString":"","keyKind":"Primary","type":"Sql"}]}`,
		`{"connectionStrings":[{"connectionString":"x","keyKind":"Pri mary","type":"Sql"}]}`, `{"connectionStrings":5}`} {
		if _, err := parseConnectionStrings([]byte(bad)); err == nil || strings.Contains(err.Error(), "AccountKey") {
			t.Fatalf("accepted, or quoted the answer: %v", err)
		}
	}
}

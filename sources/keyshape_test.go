package sources

import (
	"errors"
	"strings"
	"testing"
)

// TestCheckKey: each rule refuses what it should and names the field,
// never the value.
func TestCheckKey(t *testing.T) {
	b64 := strings.Repeat("QUJD", 22) // 88 characters, 66 bytes
	tests := []struct {
		name, typ, field, value string
		problem                 string // "" when accepted
	}{
		{"batch key", "batch", "primary", b64, ""},
		{"empty", "batch", "primary", "", "empty"},
		{"control characters", "batch", "primary", "\u0000\u001b[2J\n", "control"},
		{"space", "redis", "primaryKey", "abc def", "control, space"},
		{"non-ASCII", "redis", "primaryKey", "abcé", "non-ASCII"},
		{"too long", "redis", "primaryKey", strings.Repeat("a", MaxKeyLen+1), "longer than 1024"},
		{"at the bound", "redis", "primaryKey", strings.Repeat("a", MaxKeyLen), ""},
		{"batch not base64", "batch", "secondary", "not*base64", "not base64"},
		{"batch base64 too short", "batch", "secondary", "QUJD", "fewer than 16"},
		{"storage not base64", "storage", "key1", "AAAA==", "not base64"},
		{"cosmos base64", "cosmosdb", "primaryMasterKey", b64, ""},
		{"redis any printable", "redis", "primaryKey", "a-b_c.d~e", ""},
		{"connection string", "eventhubs", "primaryConnectionString", "Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=r;SharedAccessKey=" + b64, ""},
		{"connection string not pairs", "eventhubs", "primaryConnectionString", "just-a-key", "Key=Value"},
		{"connection string empty name", "signalr", "secondaryConnectionString", "=x;Endpoint=y", "Key=Value"},
		{"connection string newline", "servicebus", "primaryConnectionString", "Endpoint=x;\nKey=y", "control"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Types[tt.typ].CheckKey(tt.field, tt.value)
			if tt.problem == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var se *KeyShapeError
			if !errors.As(err, &se) || !strings.Contains(err.Error(), tt.problem) || se.Field != tt.field {
				t.Fatalf("err = %v, want a KeyShapeError for %s about %q", err, tt.field, tt.problem)
			}
			if tt.value != "" && strings.Contains(err.Error(), tt.value) {
				t.Fatal("the error quotes the value")
			}
		})
	}
}

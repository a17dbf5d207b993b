package sources

import "testing"

// TestAPIVersionFor: the account's own api-version, else [azure]'s for
// Batch only, else the type's pinned one.
func TestAPIVersionFor(t *testing.T) {
	tests := []struct {
		name       string
		acct       Account
		configured string
		want       string
	}{
		{name: "the account's own wins", acct: Account{Type: "storage", APIVersion: "2022-09-01"}, configured: "2020-01-01", want: "2022-09-01"},
		{name: "batch: the configured one", acct: Account{}, configured: "2023-05-01", want: "2023-05-01"},
		{name: "batch spelt otherwise", acct: Account{Type: "Batch"}, configured: "2023-05-01", want: "2023-05-01"},
		{name: "batch, nothing configured: pinned", acct: Account{Type: "batch"}, want: Types["batch"].APIVersion},
		{name: "another type ignores the configured one", acct: Account{Type: "redis"}, configured: "2023-05-01", want: Types["redis"].APIVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := APIVersionFor(tt.acct, tt.configured); got != tt.want {
				t.Fatalf("APIVersionFor = %q, want %q", got, tt.want)
			}
		})
	}
}

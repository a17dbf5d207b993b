package e2e

import (
	"os"
	"strings"
	"testing"
)

// readPair reads an invalid config and the exact error beside it.
func readPair(t *testing.T, toml string) (text, want string) {
	t.Helper()
	b, err := os.ReadFile(toml)
	if err != nil {
		t.Fatal(err)
	}
	w, err := os.ReadFile(strings.TrimSuffix(toml, ".toml") + ".err")
	if err != nil {
		t.Fatal(err)
	}
	return string(b), string(w)
}

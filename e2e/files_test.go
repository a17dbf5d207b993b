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

// listSecrets lists every path under secret/, recursively, with versions.
func listSecrets(t *testing.T) map[string]int {
	t.Helper()
	out := map[string]int{}
	var walk func(prefix string)
	walk = func(prefix string) {
		s, err := vault.Client.Logical().List("secret/metadata/" + prefix)
		if err != nil || s == nil {
			return
		}
		for _, k := range s.Data["keys"].([]any) {
			name := prefix + k.(string)
			if strings.HasSuffix(name, "/") {
				walk(name)
				continue
			}
			out[name] = versionOf(t, name)
		}
	}
	walk("")
	return out
}

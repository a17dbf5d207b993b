package config

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestConfigTalksToNoNetwork keeps the TOML loader a leaf: reading a file
// must not link in the Azure SDK, Vault's client or an HTTP stack. It lists
// the package's whole dependency graph, as the build sees it.
func TestConfigTalksToNoNetwork(t *testing.T) {
	out, err := exec.CommandContext(t.Context(), "go", "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "github.com/BurntSushi/toml") {
		t.Fatalf("go list -deps did not list config's own decoder; not the graph: %q", deps)
	}
	for _, p := range deps {
		if networkPackage(p) {
			t.Errorf("config depends on %s, which talks to the network", p)
		}
	}
}

// networkPackage reports whether an import path is a client of a remote
// service or an HTTP stack. net, net/url and net/netip only parse.
func networkPackage(path string) bool {
	return path == "net/http" || strings.HasPrefix(path, "net/http/") ||
		strings.Contains(path, "azure-sdk-for-go") || strings.HasPrefix(path, "github.com/hashicorp/vault")
}

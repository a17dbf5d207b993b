// Package deploy_test checks that the deployment examples carry configs
// keysync accepts.
package deploy_test

import (
	"os"
	"strings"
	"testing"

	"github.com/keysync/keysync/config"
)

// TestKubernetesConfigIsValid extracts the ConfigMap's config.toml block
// and loads it as keysync would.
func TestKubernetesConfigIsValid(t *testing.T) {
	b, err := os.ReadFile("kubernetes/sidecar.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var block []string
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.TrimSpace(line) == "config.toml: |":
			in = true
		case in && (strings.HasPrefix(line, "    ") || strings.TrimSpace(line) == ""):
			block = append(block, strings.TrimPrefix(line, "    "))
		case in:
			in = false
		}
	}
	if len(block) == 0 {
		t.Fatal("no config.toml block found")
	}
	cfg, err := config.Parse(strings.Join(block, "\n"))
	if err != nil {
		t.Fatalf("the example config is invalid:\n%v", err)
	}
	if cfg.Listen != "0.0.0.0:9464" || cfg.Azure.Credential != "workload-identity" {
		t.Fatalf("listen %q credential %q", cfg.Listen, cfg.Azure.Credential)
	}
}

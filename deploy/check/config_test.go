package check

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// configFile is the key of keysync's config in its ConfigMap.
const configFile = "config.toml"

// keysyncBin is keysync built from this checkout, set by TestMain. The
// configs are checked by the binary's --validate, not by importing the
// config package, so this module never pins the main module's
// dependencies.
var keysyncBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "keysync-deploy-check")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	keysyncBin = filepath.Join(dir, "keysync")
	code := 2
	if err := buildKeysync(keysyncBin); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	if err := os.RemoveAll(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// buildKeysync builds ./cmd/keysync of the main module into out.
func buildKeysync(out string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/keysync")
	cmd.Dir = "../.."
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build keysync: %w\n%s", err, b)
	}
	return nil
}

// keysyncConfigs returns every keysync config held in a ConfigMap, by
// the ConfigMap's name, after keysync --validate accepted each.
func keysyncConfigs(t *testing.T, objs []object) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, o := range objs {
		cm, ok := o.(*corev1.ConfigMap)
		if !ok || cm.Data[configFile] == "" {
			continue
		}
		if err := validate(t, cm.Data[configFile]); err != nil {
			t.Fatalf("ConfigMap %s: keysync refuses its config: %v", cm.Name, err)
		}
		out[cm.Name] = cm.Data[configFile]
	}
	return out
}

// validate runs keysync --validate on a config text.
func validate(t *testing.T, text string) error {
	t.Helper()
	f := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(f, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, keysyncBin, "--validate", "--config", f).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w\n%s", err, out)
	}
	return nil
}

// listenOf reads the top-level listen key of a config, "" when unset.
func listenOf(text string) string {
	m := regexp.MustCompile(`(?m)^listen\s*=\s*"([^"]*)"`).FindStringSubmatch(text)
	if m == nil {
		return ""
	}
	return strings.TrimSpace(m[1])
}

// TestValidateRefuses proves the configs are really checked: keysync
// refuses each of these.
func TestValidateRefuses(t *testing.T) {
	tests := []struct{ name, text string }{
		{"unknown key", "schedul = \"@every 1h\"\n"},
		{"no accounts", "listen = \"0.0.0.0:10719\"\n[vault]\naddress = \"https://vault:8200\"\n"},
		{"bad listen", "listen = \"0.0.0.0:http\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := validate(t, tt.text); err == nil {
				t.Fatalf("keysync accepted %q", tt.text)
			}
		})
	}
}

// Package systemd_test checks the unit files in this folder with
// systemd-analyze: verify must pass without a word, and the services'
// hardening must score an exposure of 2.0 or less.
package systemd_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/keysync/keysync/internal/testenv"
)

var units = []string{"keysync.service", "keysync-once.service", "keysync-once.timer"}

func analyze(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal("systemd-analyze not found: install the systemd package (.ci/run does)")
	}
	return p
}

// TestVerify runs systemd-analyze verify on copies of the units whose
// ExecStart points at a freshly built keysync, and fails on any message,
// warnings included (an unknown key is only a warning to systemd).
func TestVerify(t *testing.T) {
	bin := analyze(t)
	dir := t.TempDir()
	keysync, err := testenv.BuildKeysync(dir)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, u := range units {
		b, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		text := strings.ReplaceAll(string(b), "/usr/local/bin/keysync", keysync)
		p := filepath.Join(dir, u)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	out, err := exec.CommandContext(t.Context(), bin, append([]string{"verify", "--man=no"}, paths...)...).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

var exposureRE = regexp.MustCompile(`Overall exposure level for \S+: (\d+\.\d+)`)

// TestSecurityExposure requires strong hardening of both services.
func TestSecurityExposure(t *testing.T) {
	bin := analyze(t)
	for _, u := range units[:2] {
		t.Run(u, func(t *testing.T) {
			out, err := exec.CommandContext(t.Context(), bin, "security", "--offline=true", u).CombinedOutput()
			m := exposureRE.FindSubmatch(out)
			if m == nil {
				t.Fatalf("no exposure level in the output (%v):\n%s", err, out)
			}
			level, _ := strconv.ParseFloat(string(m[1]), 64)
			if level > 2.0 {
				t.Fatalf("exposure %.1f, want 2.0 or less:\n%s", level, out)
			}
		})
	}
}

// TestSysusers checks keysync.sysusers with systemd-sysusers itself, in a
// dry run on an empty root: it must create user and group keysync and
// complain about nothing.
func TestSysusers(t *testing.T) {
	if _, err := exec.LookPath("systemd-sysusers"); err != nil {
		t.Fatal("systemd-sysusers not found: install the systemd package (.ci/run does)")
	}
	conf, err := filepath.Abs("keysync.sysusers")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), "systemd-sysusers", "--dry-run", "--root="+t.TempDir(), conf).CombinedOutput()
	text := string(out)
	if err != nil || strings.Contains(text, "keysync.sysusers:") {
		t.Fatalf("systemd-sysusers: %v\n%s", err, text)
	}
	for _, want := range []string{"Creating group 'keysync'", "Creating user 'keysync'"} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q in:\n%s", want, text)
		}
	}
}

// TestInstallCoversUnits: every file the units name, install.sh puts in
// place (a Documentation= nothing installs is a dead link), and the
// units run as the user keysync.sysusers creates.
func TestInstallCoversUnits(t *testing.T) {
	script, err := os.ReadFile("install.sh")
	if err != nil {
		t.Fatal(err)
	}
	sysusers, err := os.ReadFile("keysync.sysusers")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range units[:2] {
		b, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		unit := string(b)
		for _, path := range []string{
			setting(t, unit, "Documentation", "file:"),
			strings.Fields(setting(t, unit, "ExecStart", ""))[0],
			strings.TrimPrefix(setting(t, unit, "EnvironmentFile", ""), "-"),
			"/etc/keysync/config.toml",
		} {
			if !strings.Contains(string(script), path) {
				t.Errorf("%s names %s, which install.sh does not install", u, path)
			}
		}
		if user := setting(t, unit, "User", ""); !strings.Contains(string(sysusers), "u "+user+" ") {
			t.Errorf("%s runs as %q, which keysync.sysusers does not create", u, user)
		}
	}
}

// setting is the value of unit's key= line, without prefix.
func setting(t *testing.T, unit, key, prefix string) string {
	t.Helper()
	for _, line := range strings.Split(unit, "\n") {
		if v, ok := strings.CutPrefix(line, key+"="); ok && strings.HasPrefix(v, prefix) {
			return strings.TrimPrefix(v, prefix)
		}
	}
	t.Fatalf("no %s=%s... line", key, prefix)
	return ""
}

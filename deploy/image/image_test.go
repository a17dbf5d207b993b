package image

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/keysync/keysync/internal/armemu"
	"github.com/keysync/keysync/internal/testenv"
)

// buildOutputs provides, for each path the final stage copies from the
// build stage, the file CI puts in the build context instead. out is where
// the Dockerfile's own go build command wrote (its /out/).
var buildOutputs = map[string]func(out string) string{
	"/out/keysync": func(out string) string { return filepath.Join(out, "keysync") },
	// The build image is Debian-based, and so is CI's host: Debian's
	// ca-certificates package writes both bundles.
	"/etc/ssl/certs/ca-certificates.crt": func(string) string { return "/etc/ssl/certs/ca-certificates.crt" },
}

const (
	testVersion = "v0.0.0-image-test"
	testTag     = "localhost/keysync-image-test:latest"
	// inside is where the test's files are mounted in the container.
	inside = "/run/keysync-test"
)

// TestImage builds the Dockerfile's final stage with podman, checks the
// image config, and runs the image with runc as its non-root user on a
// read-only root: --version, --validate of a CRON_TZ schedule (the image
// has no zoneinfo), and --run-now against Vault and the ARM emulator.
func TestImage(t *testing.T) {
	requireTools(t)
	p := newPodman(t)
	buildImage(t, p)
	t.Cleanup(func() { _, _ = p.run("rmi", "--force", testTag) })

	cfg := p.inspect(testTag)
	checkConfig(t, cfg)
	rootfs := filepath.Join(t.TempDir(), "bundle")
	if err := os.MkdirAll(filepath.Join(rootfs, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	p.rootfs(testTag, filepath.Join(rootfs, "rootfs"))
	checkRootfs(t, filepath.Join(rootfs, "rootfs"))

	b := startParts(t, rootfs, cfg)
	t.Run("version", func(t *testing.T) { testVersionFlag(t, b) })
	t.Run("validate CRON_TZ", func(t *testing.T) { testValidateTZ(t, b) })
	t.Run("unreadable config", func(t *testing.T) { testNotRoot(t, b) })
	t.Run("run-now", func(t *testing.T) { testRunNow(t, b) })
	t.Run("daemon", func(t *testing.T) { testDaemon(t, b) })
}

// requireTools fails, never skips: CI installs podman and runc (.ci/run).
func requireTools(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the image test builds and runs a container and needs root (CI runs as root)")
	}
	for _, tool := range []string{"podman", "runc", "tar", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: apt-get install podman runc (.ci/run does)", tool)
		}
	}
}

// buildImage builds the binary with the Dockerfile's own go build command,
// fills a context with what the final stage copies, and builds that stage.
func buildImage(t *testing.T, p *podman) {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	df, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	out, ctxDir := t.TempDir(), t.TempDir()
	gobuild, err := BuildCommand(string(df), "/out/", out)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), "sh", "-c", gobuild)
	cmd.Dir, cmd.Env = root, append(os.Environ(), "VERSION="+testVersion)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", gobuild, err, b)
	}
	st, err := FinalStage(string(df))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range st.Copies {
		src, ok := buildOutputs[c.Src]
		if !ok {
			t.Fatalf("the final stage copies %s from the build stage; add it to buildOutputs", c.Src)
		}
		copyFile(t, src(out), filepath.Join(ctxDir, c.Context))
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "Containerfile"), []byte(st.Containerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	p.must("build", "--file", filepath.Join(ctxDir, "Containerfile"), "--build-arg", "VERSION="+testVersion,
		"--tag", testTag, ctxDir)
}

// copyFile copies a file and its mode bits.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, fi.Mode().Perm())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// checkConfig compares the image config with what the Dockerfile promises
// and the README documents.
func checkConfig(t *testing.T, c imageConfig) {
	t.Helper()
	if c.User != "65532:65532" {
		t.Errorf("User = %q, want 65532:65532", c.User)
	}
	if !slices.Equal(c.Entrypoint, []string{"keysync"}) {
		t.Errorf("Entrypoint = %q, want [keysync]", c.Entrypoint)
	}
	if !slices.Equal(c.Cmd, []string{"--config", "/etc/keysync/config.toml"}) {
		t.Errorf("Cmd = %q, want [--config /etc/keysync/config.toml]", c.Cmd)
	}
	if _, ok := c.ExposedPorts["10719/tcp"]; !ok || len(c.ExposedPorts) != 1 {
		t.Errorf("ExposedPorts = %v, want only 10719/tcp", c.ExposedPorts)
	}
	if !slices.Contains(c.Env, "PATH=/usr/local/bin") {
		t.Errorf("Env = %q, want PATH=/usr/local/bin", c.Env)
	}
	for k, want := range map[string]string{
		"org.opencontainers.image.title":    "keysync",
		"org.opencontainers.image.version":  testVersion,
		"org.opencontainers.image.licenses": "Apache-2.0",
	} {
		if c.Labels[k] != want {
			t.Errorf("label %s = %q, want %q", k, c.Labels[k], want)
		}
	}
	if c.Labels["org.opencontainers.image.description"] == "" {
		t.Error("no org.opencontainers.image.description label")
	}
}

// checkRootfs asserts the image holds the binary and the CA bundle, and
// nothing else: in particular no zoneinfo, so CRON_TZ can only work from
// the binary's embedded copy.
func checkRootfs(t *testing.T, dir string) {
	t.Helper()
	var files []string
	err := filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			rel, _ := filepath.Rel(dir, path)
			files = append(files, "/"+rel)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/etc/ssl/certs/ca-certificates.crt", "/usr/local/bin/keysync"}
	if slices.Sort(files); !slices.Equal(files, want) {
		t.Errorf("the image holds %q, want exactly %q", files, want)
	}
}

// startParts starts Vault and the emulator and returns a bundle whose
// container reaches them, with dir mounted read-only at inside.
func startParts(t *testing.T, bundleDir string, cfg imageConfig) *bundle {
	t.Helper()
	files := t.TempDir()
	if err := os.Chmod(files, 0o755); err != nil {
		t.Fatal(err)
	}
	v, err := testenv.StartVault()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Stop)
	emu, err := testenv.StartEmulator(files)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	if err := os.Chmod(emu.CAFile, 0o644); err != nil {
		t.Fatal(err)
	}
	env := append(v.Env(), emu.Env()...)
	for i, e := range env {
		if strings.HasPrefix(e, "SSL_CERT_FILE=") {
			env[i] = "SSL_CERT_FILE=" + inside + "/" + filepath.Base(emu.CAFile)
		}
	}
	parts = testParts{vault: v, emu: emu, files: files}
	return &bundle{t: t, dir: bundleDir, state: t.TempDir(), image: cfg, env: env,
		mounts: []mount{{src: files, dst: inside}}}
}

// testParts are the running Vault and emulator, and the directory the
// container sees at inside.
type testParts struct {
	vault *testenv.Vault
	emu   *testenv.Emulator
	files string
}

var parts testParts

// writeConfig writes a config file into the mounted directory, readable by
// the container's user, and returns its path inside the container.
func writeConfig(t *testing.T, name, text string, mode os.FileMode) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(parts.files, name), []byte(text), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(parts.files, name), mode); err != nil {
		t.Fatal(err)
	}
	return inside + "/" + name
}

// config is a one-account config against the test's emulator and Vault.
func config(top, sub, rg, name, path string) string {
	return fmt.Sprintf("%s\n[azure]\nendpoint = %q\ncredential = \"managed-identity\"\n\n[vault]\nmount = \"secret\"\n\n"+
		"[[account]]\nsubscription_id = %q\nresource_group = %q\nname = %q\npath = %q\n",
		top, parts.emu.URL(), sub, rg, name, path)
}

const (
	sub = "11111111-2222-3333-4444-555555555555"
	rg  = "rg-image"
)

func testVersionFlag(t *testing.T, b *bundle) {
	r := b.run("--version")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "keysync "+testVersion {
		t.Fatalf("--version: exit %d, stdout %q, want \"keysync %s\"; stderr:\n%s", r.code, r.stdout, testVersion, r.stderr)
	}
}

// testValidateTZ proves the embedded tzdata: the image has no zoneinfo,
// and a zone that does not exist is still refused, so the check is real.
func testValidateTZ(t *testing.T, b *bundle) {
	tests := []struct {
		name, schedule string
		code           int
	}{
		{"Europe/Berlin", "CRON_TZ=Europe/Berlin 0 3 * * *", 0},
		{"America/New_York", "CRON_TZ=America/New_York @daily", 0},
		{"no such zone", "CRON_TZ=Nowhere/Atlantis 0 3 * * *", 2},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := writeConfig(t, fmt.Sprintf("validate-%d.toml", i),
				config(fmt.Sprintf("schedule = %q\n", tt.schedule), sub, rg, "tzcheck", "azure/batch/tzcheck"), 0o644)
			r := b.run("--config", cfg, "--validate")
			if r.code != tt.code {
				t.Fatalf("--validate of schedule %q: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", tt.schedule, r.code, tt.code, r.stdout, r.stderr)
			}
		})
	}
}

// testNotRoot shows the process runs without root's powers: a config only
// root may read is refused with a usage error.
func testNotRoot(t *testing.T, b *bundle) {
	cfg := writeConfig(t, "root-only.toml", config("", sub, rg, "rootonly", "azure/batch/rootonly"), 0o600)
	r := b.run("--config", cfg, "--validate")
	if r.code != 2 || !strings.Contains(r.stderr, "permission denied") {
		t.Fatalf("a root-only config: exit %d, want 2 with permission denied\nstderr:\n%s", r.code, r.stderr)
	}
}

// testRunNow syncs one account from inside the image and checks Vault
// holds the emulator's keys.
func testRunNow(t *testing.T, b *bundle) {
	want := parts.emu.Add(armemu.Resource{Subscription: sub, ResourceGroup: rg, Name: "imageacct"})
	cfg := writeConfig(t, "run-now.toml", config("", sub, rg, "imageacct", "azure/batch/imageacct"), 0o644)
	r := b.run("--config", cfg, "--run-now")
	if r.code != 0 {
		t.Fatalf("--run-now: exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	s, err := parts.vault.Client.KVv2("secret").Get(context.Background(), "azure/batch/imageacct")
	if err != nil {
		t.Fatalf("reading the synced secret: %v", err)
	}
	if s.Data["primary"] != want.Keys["primary"] || s.Data["secondary"] != want.Keys["secondary"] {
		t.Fatal("the secret in Vault does not hold the emulator's keys") // no key values in the message
	}
}

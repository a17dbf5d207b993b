package image

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keysync/keysync/internal/armemu"
	"github.com/keysync/keysync/internal/testenv"
)

// testDaemon runs the image's default command, with the config mounted at
// /etc/keysync as the README shows, and checks from the host that the
// process runs as 65532 with no capabilities on a read-only root, that it
// syncs and answers /healthz, and that SIGTERM ends it with exit 0.
func testDaemon(t *testing.T, b *bundle) {
	parts.emu.Add(armemu.Resource{Subscription: sub, ResourceGroup: rg, Name: "daemonacct"})
	addr, err := testenv.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	etc := t.TempDir()
	if err := os.Chmod(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	text := config(fmt.Sprintf("schedule = \"@every 1h\"\nlisten = %q\n", addr), sub, rg, "daemonacct", "azure/batch/daemonacct")
	if err := os.WriteFile(filepath.Join(etc, "config.toml"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	base := b.mounts
	b.mounts = append(append([]mount{}, base...), mount{src: etc, dst: "/etc/keysync"})
	defer func() { b.mounts = base }()
	c := b.start(b.image.Cmd...)
	waitUntil(t, c, "/healthz to answer and the account to sync", func() bool {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+"/healthz", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		s, err := parts.vault.Client.KVv2("secret").Get(context.Background(), "azure/batch/daemonacct")
		return resp.StatusCode == http.StatusOK && err == nil && s.Data["primary"] != nil
	})
	checkProcess(t, c.pid())
	c.signal("TERM")
	if r := c.wait(); r.code != 0 {
		t.Fatalf("the daemon exited %d after SIGTERM, want 0\nstderr:\n%s", r.code, r.stderr)
	}
}

// waitUntil polls cond while the container runs. It returns as soon as
// cond holds; after two minutes it kills the container and fails, which
// ends only a wait that would never end.
func waitUntil(t *testing.T, c *container, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); !cond(); {
		select {
		case <-c.exited:
			r := c.wait()
			t.Fatalf("the container exited (%d) while waiting for %s\nstderr:\n%s", r.code, what, r.stderr)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.signal("KILL")
			r := c.wait()
			t.Fatalf("timed out waiting for %s\nstderr:\n%s", what, r.stderr)
		}
	}
}

// checkProcess reads the container's process from the host's /proc: its
// user and group, its capabilities, and its root mount.
func checkProcess(t *testing.T, pid int) {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Uid:\t65532\t65532\t65532\t65532", "Gid:\t65532\t65532\t65532\t65532",
		"CapEff:\t0000000000000000", "CapPrm:\t0000000000000000", "NoNewPrivs:\t1"} {
		if !strings.Contains(string(status), want+"\n") {
			t.Errorf("/proc/%d/status has no line %q:\n%s", pid, want, status)
		}
	}
	mountinfo, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		t.Fatal(err)
	}
	if opts, ok := rootMountOptions(string(mountinfo)); !ok || !slices.Contains(strings.Split(opts, ","), "ro") {
		t.Errorf("the container's / is not mounted read-only (options %q):\n%s", opts, mountinfo)
	}
}

// rootMountOptions finds the per-mount options of "/" in a mountinfo
// (fields: id, parent, major:minor, root, mount point, options, ...).
func rootMountOptions(mountinfo string) (string, bool) {
	var opts string
	found := false
	for _, line := range strings.Split(mountinfo, "\n") {
		if f := strings.Fields(line); len(f) > 5 && f[4] == "/" {
			opts, found = f[5], true // the last one stacked on / is the visible one
		}
	}
	return opts, found
}

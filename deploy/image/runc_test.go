package image

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// bundle is an OCI runtime bundle over an unpacked image: what a container
// engine would hand runc, written out by hand because podman's own run
// sets rlimits this sandbox refuses.
type bundle struct {
	t      *testing.T
	dir    string // holds config.json; the rootfs is dir/rootfs
	state  string // runc's --root
	image  imageConfig
	env    []string
	mounts []mount
}

// mount is a read-only bind mount into the container.
type mount struct{ src, dst string }

// result is one container run.
type result struct {
	stdout, stderr string
	code           int
}

var runSeq int

// run runs the image's entrypoint with args as its command, as the image's
// user, on a read-only root filesystem, in the host's network namespace
// (so that Vault and the emulator on 127.0.0.1 are reachable).
func (b *bundle) run(args ...string) result {
	b.t.Helper()
	runSeq++
	id := fmt.Sprintf("keysync-image-test-%d-%d", os.Getpid(), runSeq)
	spec, err := json.MarshalIndent(b.spec(append(append([]string{}, b.image.Entrypoint...), args...)), "", "  ")
	if err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.dir, "config.json"), spec, 0o600); err != nil {
		b.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "runc", "--root", b.state, "run", "--bundle", b.dir, id)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	_ = exec.Command("runc", "--root", b.state, "delete", "--force", id).Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee) && ctx.Err() == nil:
		r.code = ee.ExitCode()
	case err != nil:
		b.t.Fatalf("runc run %v: %v\n%s", args, err, errb.String())
	}
	return r
}

// spec is the runtime configuration: user and process from the image,
// read-only root, no capabilities, no rlimits, host network.
func (b *bundle) spec(args []string) map[string]any {
	uid, gid := b.user()
	mounts := []map[string]any{
		{"destination": "/proc", "type": "proc", "source": "proc"},
		{"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{"destination": "/sys", "type": "bind", "source": "/sys", "options": []string{"rbind", "nosuid", "noexec", "nodev", "ro"}},
	}
	for _, m := range b.mounts {
		mounts = append(mounts, map[string]any{"destination": m.dst, "type": "bind", "source": m.src,
			"options": []string{"bind", "ro", "nosuid", "nodev", "noexec"}})
	}
	none := []string{}
	return map[string]any{
		"ociVersion": "1.0.2",
		"process": map[string]any{
			"terminal": false, "user": map[string]any{"uid": uid, "gid": gid},
			"args": args, "env": append(append([]string{}, b.image.Env...), b.env...), "cwd": "/",
			"capabilities":    map[string]any{"bounding": none, "effective": none, "inheritable": none, "permitted": none, "ambient": none},
			"noNewPrivileges": true,
		},
		"root":     map[string]any{"path": "rootfs", "readonly": true},
		"hostname": "keysync-image-test",
		"mounts":   mounts,
		"linux": map[string]any{
			// No "network" namespace: the container shares the host's.
			"namespaces":    []map[string]string{{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}},
			"maskedPaths":   []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"},
			"readonlyPaths": []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		},
	}
}

// user parses the image's USER, which must be numeric uid:gid: a scratch
// image has no /etc/passwd to resolve a name.
func (b *bundle) user() (uid, gid int) {
	b.t.Helper()
	if _, err := fmt.Sscanf(b.image.User, "%d:%d", &uid, &gid); err != nil {
		b.t.Fatalf("image user %q is not numeric uid:gid: %v", b.image.User, err)
	}
	return uid, gid
}

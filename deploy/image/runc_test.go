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

// container is a running container.
type container struct {
	b         *bundle
	id        string
	cmd       *exec.Cmd
	out, errb bytes.Buffer
	ctx       context.Context
	cancel    context.CancelFunc
	exited    chan struct{}
	err       error
}

// start starts the image's entrypoint with args as its command, as the
// image's user, on a read-only root filesystem, in the host's network
// namespace (so that Vault and the emulator on 127.0.0.1 are reachable).
func (b *bundle) start(args ...string) *container {
	b.t.Helper()
	runSeq++
	c := &container{b: b, id: fmt.Sprintf("keysync-image-test-%d-%d", os.Getpid(), runSeq), exited: make(chan struct{})}
	spec, err := json.MarshalIndent(b.spec(append(append([]string{}, b.image.Entrypoint...), args...)), "", "  ")
	if err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.dir, "config.json"), spec, 0o600); err != nil {
		b.t.Fatal(err)
	}
	// A container that hangs is killed here; waits inside it (waitUntil)
	// give up well before.
	c.ctx, c.cancel = context.WithTimeout(context.Background(), 5*time.Minute)
	c.cmd = exec.CommandContext(c.ctx, "runc", "--root", b.state, "run", "--bundle", b.dir, c.id)
	c.cmd.Stdout, c.cmd.Stderr = &c.out, &c.errb
	if err := c.cmd.Start(); err != nil {
		c.cancel()
		b.t.Fatalf("runc run: %v", err)
	}
	go func() { c.err = c.cmd.Wait(); close(c.exited) }()
	return c
}

// wait waits for the container to exit and removes it.
func (c *container) wait() result {
	c.b.t.Helper()
	<-c.exited
	timedOut := c.ctx.Err() != nil
	c.cancel()
	_ = exec.CommandContext(c.b.t.Context(), "runc", "--root", c.b.state, "delete", "--force", c.id).Run()
	r := result{stdout: c.out.String(), stderr: c.errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(c.err, &ee) && !timedOut && ee.ExitCode() >= 0:
		r.code = ee.ExitCode()
	case c.err != nil:
		c.b.t.Fatalf("runc run %s: %v (timed out: %v)\n%s", c.id, c.err, timedOut, r.stderr)
	}
	return r
}

// pid is the container's first process as the host sees it.
func (c *container) pid() int {
	c.b.t.Helper()
	out, err := exec.CommandContext(c.b.t.Context(), "runc", "--root", c.b.state, "state", c.id).Output()
	var st struct{ Pid int }
	if err == nil {
		err = json.Unmarshal(out, &st)
	}
	if err != nil || st.Pid == 0 {
		c.b.t.Fatalf("runc state %s: %v (%s)", c.id, err, out)
	}
	return st.Pid
}

// signal sends sig to the container's first process through runc.
func (c *container) signal(sig string) {
	c.b.t.Helper()
	if out, err := exec.CommandContext(c.b.t.Context(), "runc", "--root", c.b.state, "kill", c.id, sig).CombinedOutput(); err != nil {
		c.b.t.Fatalf("runc kill %s %s: %v\n%s", c.id, sig, err, out)
	}
}

// run runs a container to its end.
func (b *bundle) run(args ...string) result {
	b.t.Helper()
	return b.start(args...).wait()
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

package image

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// podman runs podman on a storage of its own (vfs, under the test's temp
// dir), so the test neither sees nor leaves images in the machine's store.
type podman struct {
	t     *testing.T
	store string
}

func newPodman(t *testing.T) *podman {
	t.Helper()
	p := &podman{t: t, store: t.TempDir()}
	return p
}

// run runs one podman command and returns its stdout.
func (p *podman) run(args ...string) (string, error) {
	// A command that hangs ends here; a build on a busy machine does not.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	global := []string{
		"--root", filepath.Join(p.store, "root"), "--runroot", filepath.Join(p.store, "run"),
		"--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file",
		"--tmpdir", filepath.Join(p.store, "tmp"),
	}
	cmd := exec.CommandContext(ctx, "podman", append(global, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Env = append(os.Environ(), "TMPDIR="+filepath.Join(p.store, "tmp"))
	if err := os.MkdirAll(filepath.Join(p.store, "tmp"), 0o700); err != nil {
		return "", err
	}
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("podman %v: %w\n%s", args, err, errb.String())
	}
	return out.String(), nil
}

// must is run that fails the test on an error.
func (p *podman) must(args ...string) string {
	p.t.Helper()
	out, err := p.run(args...)
	if err != nil {
		p.t.Fatal(err)
	}
	return out
}

// imageConfig is the part of `podman image inspect` the Dockerfile sets.
type imageConfig struct {
	User         string
	Entrypoint   []string
	Cmd          []string
	Env          []string
	WorkingDir   string
	ExposedPorts map[string]struct{}
	Labels       map[string]string
}

// inspect reads an image's config.
func (p *podman) inspect(ref string) imageConfig {
	p.t.Helper()
	var images []struct{ Config imageConfig }
	if err := json.Unmarshal([]byte(p.must("image", "inspect", ref)), &images); err != nil || len(images) != 1 {
		p.t.Fatalf("podman image inspect %s: %d images, %v", ref, len(images), err)
	}
	return images[0].Config
}

// rootfs unpacks an image's filesystem into dir, through a container that
// is created (never started), exported and removed.
func (p *podman) rootfs(ref, dir string) {
	p.t.Helper()
	id := p.must("create", ref)
	ctr := string(bytes.TrimSpace([]byte(id)))
	defer p.must("rm", "--force", ctr)
	tarball := filepath.Join(p.store, "rootfs.tar")
	p.must("export", "--output", tarball, ctr)
	if out, err := exec.CommandContext(p.t.Context(), "tar", "-C", dir, "-xf", tarball).CombinedOutput(); err != nil {
		p.t.Fatalf("unpacking the image: %v\n%s", err, out)
	}
	_ = os.Remove(tarball)
}

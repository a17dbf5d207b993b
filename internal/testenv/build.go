package testenv

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"time"
)

// buildTimeout bounds a build of keysync: a -race build on a busy machine
// takes a few minutes, not ten.
const buildTimeout = 10 * time.Minute

// BuildKeysync builds cmd/keysync into dir and returns the binary's path.
// Under go test -race the binary is built with -race as well, and a race
// in it makes it exit 66.
func BuildKeysync(dir string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "keysync")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", append(args, "./cmd/keysync")...)
	cmd.Dir = root
	// A killed go command may leave a compiler holding the output pipe.
	cmd.WaitDelay = 10 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/keysync: %w\n%s", err, out)
	}
	return bin, nil
}

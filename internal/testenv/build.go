package testenv

import (
	"fmt"
	"os/exec"
	"path/filepath"
)

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
	cmd := exec.Command("go", append(args, "./cmd/keysync")...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/keysync: %v\n%s", err, out)
	}
	return bin, nil
}

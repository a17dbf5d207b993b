package testenv

import (
	"fmt"
	"os/exec"
	"path/filepath"
)

// BuildKeysync builds cmd/keysync into dir and returns the binary's path.
func BuildKeysync(dir string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "keysync")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/keysync")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/keysync: %v\n%s", err, out)
	}
	return bin, nil
}

package vault

import (
	"os"
	"testing"
	"time"
)

// writeFile writes data to path, owner-only, and fails the test if it
// cannot. A non-zero ahead moves the file's times that far past now, so a
// rewrite within one mtime tick still reads as a new file.
func writeFile(t *testing.T, path, data string, ahead time.Duration) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if ahead == 0 {
		return
	}
	at := time.Now().Add(ahead)
	if err := os.Chtimes(path, at, at); err != nil {
		t.Fatal(err)
	}
}

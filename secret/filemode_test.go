package secret

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckFileMode(t *testing.T) {
	// The test's own files carry the process's group, so group read is the
	// accepted case; a file in a group the process is not in is made by
	// chown where the test runs as root.
	tests := []struct {
		name       string
		mode       os.FileMode
		foreign    bool
		otherOwner bool
		refused    string
	}{
		{name: "owner only", mode: 0o600},
		{name: "owner read only", mode: 0o400},
		{name: "group read, own group", mode: 0o640},
		{name: "others read", mode: 0o644, refused: "others can read or change it"},
		{name: "others write", mode: 0o602, refused: "others can read or change it"},
		{name: "group write", mode: 0o660, refused: "its group can change it"},
		{name: "group read, a foreign group", mode: 0o640, foreign: true, refused: "which this process is not in"},
		{name: "owned by another user", mode: 0o600, otherOwner: true, refused: "belongs to another user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if (tt.foreign || tt.otherOwner) && os.Geteuid() != 0 {
				t.Fatal("this case needs root to chown a file to a foreign group; CI runs as root")
			}
			p := filepath.Join(t.TempDir(), "secret")
			if err := os.WriteFile(p, []byte("s3cr3t-value-never-shown"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, tt.mode); err != nil {
				t.Fatal(err)
			}
			if tt.otherOwner {
				if err := os.Chown(p, 64998, -1); err != nil {
					t.Fatal(err)
				}
			}
			if tt.foreign {
				if err := os.Chown(p, 0, foreignGroup(t)); err != nil {
					t.Fatal(err)
				}
			}
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			err = CheckFileMode("test file", p, fi)
			if tt.refused == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var fm *FileModeError
			if !errors.As(err, &fm) || !strings.Contains(err.Error(), tt.refused) || !strings.Contains(err.Error(), p) {
				t.Fatalf("err %v, want a FileModeError naming %s and %q", err, p, tt.refused)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Fatal("the error quotes the file's content")
			}
		})
	}
}

// foreignGroup is a group id this process is not in.
func foreignGroup(t *testing.T) int {
	t.Helper()
	own := map[int]bool{os.Getegid(): true}
	gs, _ := os.Getgroups()
	for _, g := range gs {
		own[g] = true
	}
	for g := 64000; g < 65000; g++ {
		if !own[g] {
			return g
		}
	}
	t.Fatal("no foreign group id found")
	return 0
}

//go:build !keysync_memsink

package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestShippedBuildHasNoMemsink: the default build of keysync sets no
// store swap and does not link sinks/memsink, so no config can send
// secrets to memory; the keysync_memsink build does link it, which shows
// the check can fail.
func TestShippedBuildHasNoMemsink(t *testing.T) {
	if swapStore != nil {
		t.Fatal("the default build sets swapStore")
	}
	const memsink = "github.com/keysync/keysync/sinks/memsink"
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list the binary's packages: %v", err)
	}
	for _, tt := range []struct {
		tags string
		want bool
	}{{"", false}, {"keysync_memsink", true}} {
		out, err := exec.CommandContext(t.Context(), goBin, "list", "-deps", "-tags", tt.tags, "-f", "{{.ImportPath}}", ".").Output()
		if err != nil {
			t.Fatalf("go list -tags %q: %v", tt.tags, err)
		}
		if got := slices.Contains(strings.Fields(string(out)), memsink); got != tt.want {
			t.Errorf("go list -tags %q: links %s = %v, want %v", tt.tags, memsink, got, tt.want)
		}
	}
}

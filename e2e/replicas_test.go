package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestTwoReplicasWriteEachChangeOnce: two keysync processes with the same
// config sync the same rotated accounts at the same moment. Check-and-set
// makes every changed secret get exactly one new version, and a foreign
// field survives.
func TestTwoReplicasWriteEachChangeOnce(t *testing.T) {
	shared(t)
	var accts []account
	for range 12 {
		accts = append(accts, newAccount(t))
	}
	cfg := config("", accts...)
	run(t, cfg, "--run-now").expect(t, 0)
	for _, a := range accts {
		cur := readV2(t, a.path)
		cur.data["owner"] = "team-x"
		writeV2(t, a.path, cur.data) // version 2
		a.regenerate(t, "primary")
	}
	path := filepath.Join(t.TempDir(), "config.toml")
	must(t, os.WriteFile(path, []byte(cfg), 0o600))
	var wg sync.WaitGroup
	outs := make([]string, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.CommandContext(t.Context(), keysyncBin, "--config", path, "--run-now")
			cmd.Env = append(append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, vault.Env()...), emu.Env()...)
			out, err := cmd.CombinedOutput()
			outs[i] = string(out)
			if err != nil {
				t.Errorf("replica %d: %v\n%s", i, err, out)
			}
		}()
	}
	wg.Wait()
	assertNoKeys(t, outs[0]+outs[1])
	updates := strings.Count(outs[0]+outs[1], "\nupdate ")
	for _, a := range accts {
		got := readV2(t, a.path)
		p, _ := a.keys(t)
		if got.version != 3 || got.data["primary"] != p || got.data["owner"] != "team-x" {
			t.Errorf("%s: version %d (want 3), primary current %t, owner %v", a.name, got.version, got.data["primary"] == p, got.data["owner"])
		}
	}
	if updates != len(accts) {
		t.Errorf("the replicas reported %d updates between them, want %d:\n%s\n%s", updates, len(accts), outs[0], outs[1])
	}
}

// TestShardsSplitTheAccounts: --shard 0/2 and 1/2 together sync every
// account once.
func TestShardsSplitTheAccounts(t *testing.T) {
	shared(t)
	var accts []account
	for range 10 {
		accts = append(accts, newAccount(t))
	}
	cfg := config("", accts...)
	r0 := run(t, cfg, "--run-now", "--shard", "0/2")
	r0.expect(t, 0)
	r1 := run(t, cfg, "--run-now", "--shard", "1/2")
	r1.expect(t, 0)
	for _, a := range accts {
		if a.requests() != 1 || readV2(t, a.path) == nil {
			t.Errorf("%s: %d requests, synced %t", a.name, a.requests(), readV2(t, a.path) != nil)
		}
	}
	if strings.Count(r0.stdout, "create")+strings.Count(r1.stdout, "create") != len(accts)+2 { // +1 per summary line
		t.Errorf("creates across shards:\n%s\n%s", r0.stdout, r1.stdout)
	}
	run(t, cfg, "--validate", "--shard", "2/2").expect(t, 2)
}

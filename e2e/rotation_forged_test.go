package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/keysync/keysync/internal/armemu"
)

// Issue #20: a Vault principal that may write only metadata/ under
// keysync's prefix must not make keysync regenerate a key, nor freeze
// rotation unseen; rotate_grace keeps the key active moved away from
// alive; an unfinished regenerate is not "unchanged".

// forgeOver sets keys of the secret's custom_metadata as the metadata writer
// can: whole (it cannot read them), so it writes what is there (as a
// writer who knows it would) with set on top.
func forgeOver(t *testing.T, w *api.Client, path string, set map[string]string) {
	t.Helper()
	meta := map[string]any{}
	for k, v := range readV2(t, path).meta {
		meta[k] = v
	}
	for k, v := range set {
		meta[k] = v
	}
	_, err := w.Logical().Write("secret/metadata/"+path, map[string]any{"custom_metadata": meta})
	must(t, err)
}

// versionTime is when Vault wrote the secret's live version.
func versionTime(t *testing.T, path string) time.Time {
	t.Helper()
	s, err := vault.Client.KVv2("secret").Get(context.Background(), path)
	must(t, err)
	return s.VersionMetadata.CreatedTime
}

// regenerateTimes are the arrival times of the account's regenerate
// requests, in order.
func regenerateTimes(a account) []time.Time {
	var out []time.Time
	for _, r := range emu.RequestsOf(a.res()) {
		if strings.HasSuffix(r.Path, "/batchAccounts/"+a.name+"/regenerateKeys") {
			out = append(out, r.Time)
		}
	}
	return out
}

// TestRotationForgedStampsDoNotRegenerate: with a token that may write
// only metadata, rotated-at and both per-key stamps are set to 1970 right
// after the baseline. keysync regenerates nothing while the live version
// is younger than rotate_every (30 s: the forging and the run fit in it on
// a loaded machine); with the same config, once the period has really
// passed, it rotates.
func TestRotationForgedStampsDoNotRegenerate(t *testing.T) {
	shared(t)
	a := newAccount(t)
	const every = 30 * time.Second
	cfg := rotationConfig(every.String(), "1s", a)
	run(t, cfg, "--run-now").expect(t, 0)
	baseline := versionTime(t, a.path)
	epoch := "1970-01-01T00:00:00Z"
	forgeOver(t, forger(t, "azure"), a.path, map[string]string{"rotated-at": epoch, "rotated-primary-at": epoch, "rotated-secondary-at": epoch})
	r := run(t, cfg, "--run-now")
	r.expect(t, 0)
	if times := regenerateTimes(a); len(times) != 0 {
		if times[0].Before(baseline.Add(every)) {
			t.Fatalf("forged stamps made keysync regenerate a key %v after the live version, within rotate_every (%v):\n%s", times[0].Sub(baseline), every, r.stdout)
		}
		t.Fatalf("the run came %v after the baseline, past rotate_every: too late to judge", times[0].Sub(baseline))
	}
	rotationDue(t, cfg, "secondary")
	run(t, cfg, "--run-now").expect(t, 0)
	if regenerations(a) != 1 || activeOf(t, a) != "secondary" {
		t.Fatalf("a period on: %d regenerations, active %q", regenerations(a), activeOf(t, a))
	}
}

// TestRotationGraceKeepsTheOldKey: rotate_every 1s, rotate_grace 6s. The
// key consumers used until a rotation moved active away from it is not
// regenerated within the grace of that move, however many syncs ask;
// after the grace it is.
func TestRotationGraceKeepsTheOldKey(t *testing.T) {
	shared(t)
	a := newAccount(t)
	const grace = 6 * time.Second
	cfg := rotationConfig("1s", grace.String(), a)
	run(t, cfg, "--run-now").expect(t, 0)
	rotationDue(t, cfg, "secondary")
	run(t, cfg, "--run-now").expect(t, 0)
	if regenerations(a) != 1 || activeOf(t, a) != "secondary" {
		t.Fatalf("first rotation: %d regenerations, active %q", regenerations(a), activeOf(t, a))
	}
	moved := versionTime(t, a.path)
	eventually(t, 60*time.Second, func() (bool, string) {
		r := run(t, cfg, "--run-now")
		return regenerations(a) == 2, fmt.Sprintf("the primary key regenerated after the grace (exit %d)", r.code)
	})
	if at := regenerateTimes(a)[1]; at.Before(moved.Add(grace)) {
		t.Fatalf("the key consumers used until %v was regenerated %v after active moved away from it, within rotate_grace (%v)",
			moved.Format(time.RFC3339Nano), at.Sub(moved), grace)
	}
	if activeOf(t, a) != "primary" {
		t.Fatalf("active %q after the second rotation", activeOf(t, a))
	}
}

// rotationStatus is the rotation part of an account in GET /status.
type rotationStatus struct {
	Problems        []string  `json:"problems"`
	ProblemsAt      time.Time `json:"problems_at"`
	ProblemsCurrent bool      `json:"problems_current"`
}

func (d *daemonProc) rotationOf(tok, name string) rotationStatus {
	d.t.Helper()
	_, _, body := d.call("GET", "/status", tok)
	var reply struct {
		Accounts []struct {
			Account  string         `json:"account"`
			Rotation rotationStatus `json:"rotation"`
		}
	}
	must(d.t, json.Unmarshal([]byte(body), &reply))
	for _, s := range reply.Accounts {
		if s.Account == name {
			return s.Rotation
		}
	}
	return rotationStatus{}
}

// TestRotationFutureRecordsReportedNotFrozen: rotated-at and
// rotation-pending forged into the future by the metadata-only token used
// to stop rotation for years, unseen. The daemon now logs them once,
// shows them in /status and the metrics, repairs them, and rotates on
// time.
func TestRotationFutureRecordsReportedNotFrozen(t *testing.T) {
	shared(t)
	a := newAccount(t)
	run(t, rotationConfig("3s", "1s", a), "--run-now").expect(t, 0)
	future := time.Now().AddDate(10, 0, 0).UTC().Format(time.RFC3339)
	forgeOver(t, forger(t, "azure"), a.path, map[string]string{"rotated-at": future, "rotation-pending": "secondary " + future})
	top, tok := apiToken(t)
	d := startDaemon(t, func(addr string) string {
		return strings.Replace(daemonConfig(addr, top, a), "path =", "rotate_every = \"3s\"\nrotate_grace = \"1s\"\npath =", 1)
	})
	d.waitFor("the rotation, on time", 30*time.Second, func() bool { return regenerations(a) == 1 && activeOf(t, a) == "secondary" })
	d.waitFor("the forged records in /status", 20*time.Second, func() bool {
		rs := d.rotationOf(tok, a.name)
		return len(rs.Problems) == 2 && strings.Contains(strings.Join(rs.Problems, "\n"), future) && !rs.ProblemsAt.IsZero()
	})
	if n := d.metric("keysync_rotation_problems_found_total"); n < 1 {
		t.Errorf("keysync_rotation_problems_found_total %v", n)
	}
	d.waitCycles(2, 20*time.Second, a)
	if n := d.logLines("rotation metadata not trusted"); n != 1 {
		t.Errorf("%d log lines about the forged records over many syncs, want 1", n)
	}
	if m := readV2(t, a.path).meta; m["rotation-pending"] != nil || m["rotated-at"] == future {
		t.Errorf("the forged records were not repaired: %v", m)
	}
	code, _, body := d.call("GET", "/readyz", tok)
	if code != http.StatusOK || !strings.Contains(body, `"rotation_problems":[]`) {
		t.Errorf("/readyz %d %s", code, body)
	}
}

// TestRotationRunNowPendingExitsOne: a long-running regenerate that never
// finishes within keysync's polling leaves its record; the run's retry
// finds the key unchanged and the record in flight. --run-now used to
// print "unchanged" and exit 0; it prints the account as pending, counts
// it in the summary and exits 1, without regenerating again.
func TestRotationRunNowPendingExitsOne(t *testing.T) {
	shared(t)
	x, cfg := dueRotation(t, "cosmosdb", "secondaryMasterKey")
	emu.InjectFault(x.r, armemu.Fault{Kind: armemu.FaultOperationHangs, Times: 1})
	t.Cleanup(func() { emu.ClearFaults(x.r) })
	before := readV2(t, x.path)
	r := run(t, cfg, "--run-now")
	r.expect(t, 1)
	line := grep(r.stdout, x.r.Name)
	if !strings.HasPrefix(strings.TrimSpace(line), "pending") || !strings.Contains(line, "rotate: pending, the regeneration of secondaryMasterKey") ||
		!strings.Contains(r.stdout, "1 rotation pending") {
		t.Fatalf("the report does not show the pending rotation:\n%s", r.stdout)
	}
	after := readV2(t, x.path)
	if x.regens() != 1 || after.version != before.version || !strings.HasPrefix(fmt.Sprint(after.meta["rotation-pending"]), "secondaryMasterKey ") {
		t.Fatalf("%d regenerations, version %d -> %d, record %v", x.regens(), before.version, after.version, after.meta["rotation-pending"])
	}
}

// TestRotationRefusedOnKV1: rotate_every on a KV version 1 mount was
// silently ignored (the keys synced, never rotated). --validate refuses it
// when kv_version says 1; keysync refuses to start (exit 3) when Vault
// shows the mount is KV version 1, writing nothing.
func TestRotationRefusedOnKV1(t *testing.T) {
	shared(t)
	a := newAccount(t)
	cfg := strings.Replace(rotationConfig("1h", "1h", a), "[vault]\n", "[vault]\nmount = \"kv1\"\n", 1)
	r := run(t, cfg, "--run-now")
	r.expect(t, 3)
	if !strings.Contains(r.stderr, "KV version 1") || !strings.Contains(r.stderr, "rotate_every") {
		t.Fatalf("stderr:\n%s", r.stderr)
	}
	if s, err := vault.Client.Logical().Read("kv1/" + a.path); err != nil || s != nil || a.requests() != 0 {
		t.Fatalf("a refused start wrote %v (%v) or asked Azure %d times", s, err, a.requests())
	}
	declared := strings.Replace(cfg, "[vault]\n", "[vault]\nkv_version = 1\n", 1)
	v := run(t, declared, "--validate")
	v.expect(t, 2)
	if !strings.Contains(v.stderr, "account[0].rotate_every: needs a KV version 2 mount") {
		t.Fatalf("--validate:\n%s", v.stderr)
	}
	run(t, config(`mount = "kv1"`, a), "--run-now").expect(t, 0)
}

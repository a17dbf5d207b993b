package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/keysync/keysync/internal/armemu"
	"github.com/keysync/keysync/sources"
)

// Modes of a vaultProxy for the data writes of one path.
const (
	proxyPass int32 = iota
	proxyFail       // answer 503, as a sealed Vault does
	proxyHang       // hold the request until the client goes away
)

// vaultProxy stands between keysync and Vault and can fail or hold the
// data writes of one secret, letting everything else (reads, the metadata
// write of the rotation record) through.
type vaultProxy struct {
	url     string
	path    string
	mode    atomic.Int32
	held    chan struct{}
	release chan struct{}
}

func newVaultProxy(t *testing.T, path string) *vaultProxy {
	t.Helper()
	p := &vaultProxy{path: "/v1/secret/data/" + path, held: make(chan struct{}, 16), release: make(chan struct{})}
	p.url = vaultTap(t, func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet || r.URL.Path != p.path {
			return false
		}
		switch p.mode.Load() {
		case proxyFail:
			http.Error(w, `{"errors":["Vault is sealed"]}`, http.StatusServiceUnavailable)
		case proxyHang:
			// Read the request whole, so that the server notices the
			// client going away.
			_, _ = io.Copy(io.Discard, r.Body)
			p.held <- struct{}{}
			select {
			case <-r.Context().Done():
			case <-p.release:
			}
		default:
			return false
		}
		return true
	})
	// Registered after the tap's close, so it runs first: a held request
	// ends before the server waits for it.
	t.Cleanup(func() { close(p.release) })
	return p
}

// env points keysync at the proxy.
func (p *vaultProxy) env() []string { return []string{"VAULT_ADDR=" + p.url} }

// answerKinds are a type whose regenerate answers the keys and one whose
// regenerate is a long-running operation, with each one's second key.
var answerKinds = []struct{ kind, typ, key string }{
	{"immediate", "redis", "secondaryKey"},
	{"long-running", "cosmosdb", "secondaryMasterKey"},
}

// dueRotation makes a resource of typ, syncs its baseline and waits until
// its rotation of key is due. Its long-running regenerates answer
// Retry-After 0, for it alone.
func dueRotation(t *testing.T, typ, key string) (rotRes, string) {
	t.Helper()
	x := newRotRes(t, typ)
	emu.SetOperationReadsFor(x.r, 1, "0")
	cfg := rotConfig("1s", "1s", `rotate_keys = ["`+sources.Types[typ].Rotation.Pairs[0].Name+`"]`+"\n", x)
	run(t, cfg, "--run-now").expect(t, 0)
	rotationDue(t, cfg, key)
	return x, cfg
}

// TestRotationRegenerateFails: for each kind of answer, a regenerate that
// Azure refuses (a 403, an operation that ends Failed) fails the account
// and leaves Vault as it was: same version, same active key, and no
// rotation record left behind.
func TestRotationRegenerateFails(t *testing.T) {
	shared(t)
	for _, k := range answerKinds {
		t.Run(k.kind, func(t *testing.T) {
			t.Parallel()
			x, cfg := dueRotation(t, k.typ, k.key)
			f := armemu.Fault{Kind: armemu.FaultStatus, Status: 403, Code: "AuthorizationFailed", Message: "no", Action: armemu.Types[k.typ].Regenerate.Action}
			if k.kind == "long-running" {
				f = armemu.Fault{Kind: armemu.FaultOperationFailed, Code: "Conflict", Message: "another operation is in progress", Times: 1}
			}
			emu.InjectFault(x.r, f)
			t.Cleanup(func() { emu.ClearFaults(x.r) })
			before, keys := readV2(t, x.path), x.keys(t)
			r := run(t, cfg, "--run-now")
			r.expect(t, 1)
			if !strings.Contains(r.stdout, "regenerating "+k.key+" key") || !strings.Contains(r.stdout, f.Code) {
				t.Errorf("summary:\n%s", r.stdout)
			}
			after := readV2(t, x.path)
			if after.version != before.version || after.data["active"] != before.data["active"] || after.meta["rotation-pending"] != nil {
				t.Fatalf("Vault changed after a failed regenerate: version %d -> %d, record %v", before.version, after.version, after.meta["rotation-pending"])
			}
			if fmt.Sprint(x.keys(t)) != fmt.Sprint(keys) {
				t.Fatal("a failed regenerate changed a key")
			}
		})
	}
}

// TestRotationVaultWriteFailsAfterRegenerate: for each kind of answer, the
// regenerate succeeds and every Vault write after it fails. The one-shot
// run fails and exits; Vault holds the rotation record. The next run
// finds the record and the new key and completes the rotation without
// regenerating again, at the record's time.
func TestRotationVaultWriteFailsAfterRegenerate(t *testing.T) {
	shared(t)
	for _, k := range answerKinds {
		t.Run(k.kind, func(t *testing.T) {
			t.Parallel()
			x, cfg := dueRotation(t, k.typ, k.key)
			p := newVaultProxy(t, x.path)
			p.mode.Store(proxyFail)
			runEnv(t, cfg, p.env(), "--run-now").expect(t, 1)
			assertRecordedNotWritten(t, x, k.key)
			p.mode.Store(proxyPass)
			assertCompletes(t, x, cfg, k.key)
		})
	}
}

// TestRotationKilledBetweenRegenerateAndWrite: for each kind of answer,
// keysync is killed with SIGKILL while its Vault write after a successful
// regenerate hangs. The next run completes the rotation from the record,
// without regenerating again.
func TestRotationKilledBetweenRegenerateAndWrite(t *testing.T) {
	shared(t)
	for _, k := range answerKinds {
		t.Run(k.kind, func(t *testing.T) {
			t.Parallel()
			x, cfg := dueRotation(t, k.typ, k.key)
			p := newVaultProxy(t, x.path)
			p.mode.Store(proxyHang)
			killed := false
			r := runWatched(t, cfg, p.env(), func(pid int, done <-chan struct{}) {
				select {
				case <-p.held:
					killed = syscall.Kill(pid, syscall.SIGKILL) == nil
				case <-done:
				case <-time.After(time.Minute):
				}
			}, "--run-now")
			if !killed || r.code != -1 {
				t.Fatalf("not killed while writing (exit %d):\n%s", r.code, r.stdout)
			}
			p.mode.Store(proxyPass)
			assertRecordedNotWritten(t, x, k.key)
			assertCompletes(t, x, cfg, k.key)
		})
	}
}

// assertRecordedNotWritten: Azure has the new key, Vault the record of its
// regeneration but not the key.
func assertRecordedNotWritten(t *testing.T, x rotRes, key string) {
	t.Helper()
	got := readV2(t, x.path)
	rec, _ := got.meta["rotation-pending"].(string)
	if x.regens() != 1 || !strings.HasPrefix(rec, key+" ") {
		t.Fatalf("%d regenerations, record %q", x.regens(), rec)
	}
	if got.data[key] == x.keys(t)[key] || got.version != 1 {
		t.Fatalf("Vault already holds the new key (version %d)", got.version)
	}
}

// assertCompletes: the next run writes the new key and the active field,
// stamps the key with the record's time and drops the record, without
// another regenerate.
func assertCompletes(t *testing.T, x rotRes, cfg, key string) {
	t.Helper()
	rec, _ := readV2(t, x.path).meta["rotation-pending"].(string)
	r := run(t, cfg, "--run-now")
	r.expect(t, 0)
	got := readV2(t, x.path)
	if x.regens() != 1 || got.data[key] != x.keys(t)[key] || got.data["active"] != key ||
		!strings.Contains(r.stdout, "rotate: complete the recorded regeneration of "+key) {
		t.Fatalf("%d regenerations, active %v:\n%s", x.regens(), got.data["active"], r.stdout)
	}
	if _, at, _ := strings.Cut(rec, " "); got.meta["rotated-"+key+"-at"] != at || got.meta["rotation-pending"] != nil {
		t.Fatalf("rotated-%s-at %v, record %q left %v", key, got.meta["rotated-"+key+"-at"], rec, got.meta["rotation-pending"])
	}
}

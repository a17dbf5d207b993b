package e2e

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keysync/keysync/internal/armemu"
	"github.com/keysync/keysync/sources"
)

// rotRes is one emulated resource of any type and its Vault path.
type rotRes struct {
	r    armemu.Resource
	path string
}

// newRotRes creates a resource of type typ with a name unique to this run.
func newRotRes(t *testing.T, typ string) rotRes {
	t.Helper()
	n := seq.Add(1)
	r := armemu.Resource{Subscription: subscription, ResourceGroup: "rg-rotation", Type: typ, Name: fmt.Sprintf("rot%d%s", n, typ)}
	if armemu.Types[typ].Child != "" {
		r.Name, r.Rule = fmt.Sprintf("ns%04drot", n), "RootManageSharedAccessKey"
	}
	emu.Add(r)
	return rotRes{r: r, path: fmt.Sprintf("azure/rotation/%s/%s", typ, strings.ToLower(r.Name))}
}

// rotConfig is a config that rotates each resource every period, extra
// going into each [[account]].
func rotConfig(every, grace, extra string, rs ...rotRes) string {
	cfg := config("")
	for _, x := range rs {
		cfg += resourceConfig(x.r, x.path, fmt.Sprintf("rotate_every = %q\nrotate_grace = %q\n%s", every, grace, extra))
	}
	return cfg
}

// regens counts the regenerate requests that reached the resource.
func (x rotRes) regens() int {
	action := x.r.ID() + "/" + armemu.Types[x.r.Type].Regenerate.Action
	n := 0
	for _, req := range emu.RequestsOf(x.r) {
		if req.Method == http.MethodPost && strings.HasPrefix(req.Path, action) {
			n++
		}
	}
	return n
}

// keys are the resource's keys as the emulator holds them.
func (x rotRes) keys(t *testing.T) map[string]string {
	t.Helper()
	a, ok := emu.Get(x.r)
	if !ok {
		t.Fatalf("no emulator resource %s", x.r.Name)
	}
	return a.Keys
}

// TestRotationTableAgreesWithEmulator: keysync's regenerate requests
// (sources.Types[...].Rotation) and the emulator's spec table agree: the
// key named in the path or in the same body field, each key field by the
// name the spec accepts for it, the same fields renewed with it, and the
// same kind of answer.
func TestRotationTableAgreesWithEmulator(t *testing.T) {
	shared(t)
	for _, name := range sources.TypeNames() {
		t.Run(name, func(t *testing.T) {
			ks, em := sources.Types[name].Rotation, armemu.Types[name]
			if ks.InPath != em.Regenerate.InPath || ks.BodyKey != em.Regenerate.BodyKey {
				t.Errorf("key named in path %t body %q; spec: path %t body %q", ks.InPath, ks.BodyKey, em.Regenerate.InPath, em.Regenerate.BodyKey)
			}
			if ks.Async != (em.Regenerate.Answer == armemu.AnswerAsync) {
				t.Errorf("long-running %t, spec answers %q", ks.Async, em.Regenerate.Answer)
			}
			for field, value := range ks.Names {
				if em.Regenerate.Values[value] != field {
					t.Errorf("keysync names %s %q; the spec's %q renews %q", field, value, value, em.Regenerate.Values[value])
				}
				if cs := em.ConnStrings[field]; !slices.Equal(ks.Renews[field], slices.DeleteFunc([]string{cs}, func(s string) bool { return s == "" })) {
					t.Errorf("%s renews %v, spec %q", field, ks.Renews[field], cs)
				}
			}
			if len(ks.Names) != len(em.Regenerate.Values) {
				t.Errorf("keysync names %d keys, the spec accepts %d", len(ks.Names), len(em.Regenerate.Values))
			}
		})
	}
}

// TestRotationEveryType: rotate_every works for all ten types end to end:
// the first run records a baseline; once the period is over, a run
// regenerates the inactive key of each pair (Cosmos DB's read-write pair,
// then its read-only pair at the next sync) with the type's own request,
// polling the long-running ones, and Vault then holds exactly the
// emulator's keys, with active naming the new one and no record left.
func TestRotationEveryType(t *testing.T) {
	shared(t)
	for _, typ := range sources.TypeNames() {
		t.Run(typ, func(t *testing.T) {
			t.Parallel()
			x := newRotRes(t, typ)
			cfg := rotConfig("1s", "1s", "", x)
			run(t, cfg, "--run-now").expect(t, 0)
			pairs := sources.Types[typ].Rotation.Pairs
			for i, pair := range pairs {
				if got := fmt.Sprint(readV2(t, x.path).data[activeField(i, pair)]); got != pair.Keys[0] {
					t.Fatalf("baseline %s %q", activeField(i, pair), got)
				}
			}
			for i, pair := range pairs {
				rotateOnce(t, x, cfg, activeField(i, pair), pair.Keys[1], i+1)
			}
		})
	}
}

func activeField(i int, pair sources.KeyPair) string {
	if i == 0 {
		return "active"
	}
	return "active-" + pair.Name
}

// rotateOnce waits for the rotation of key to be due, runs once, and
// checks the outcome: n regenerations in all, exactly key and what it
// renews changed, Vault as the emulator.
func rotateOnce(t *testing.T, x rotRes, cfg, active, key string, n int) {
	t.Helper()
	rotationDue(t, cfg, key)
	before := x.keys(t)
	run(t, cfg, "--run-now").expect(t, 0)
	after := x.keys(t)
	got := readV2(t, x.path)
	if x.regens() != n || got.data[active] != key {
		t.Fatalf("%d regenerations, %s %v", x.regens(), active, got.data[active])
	}
	renewed := sources.Types[x.r.Type].Renewed(key)
	for _, f := range slices.Sorted(maps.Keys(after)) {
		if changed := before[f] != after[f]; changed != slices.Contains(renewed, f) {
			t.Errorf("%s changed %t by regenerating %s", f, changed, key)
		}
		if got.data[f] != after[f] {
			t.Errorf("Vault's %s is not the emulator's", f)
		}
	}
	if _, left := got.meta["rotation-pending"]; left || got.meta["rotated-"+key+"-at"] == nil {
		t.Errorf("metadata after the rotation: %v", slices.Sorted(maps.Keys(got.meta)))
	}
	if _, err := time.Parse(time.RFC3339, fmt.Sprint(got.meta["rotated-"+key+"-at"])); err != nil {
		t.Error(err)
	}
}

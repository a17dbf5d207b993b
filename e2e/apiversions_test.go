package e2e

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"testing"

	"github.com/keysync/keysync/sources"
)

// previousAPIVersions are the api-versions keysync pinned before issue
// #22 moved each type to the newest stable one: configs in the field name
// them in api_version, so they must keep working. Redis, Maps and SignalR
// have no newer stable version.
var previousAPIVersions = map[string]string{
	"batch": "2024-02-01", "storage": "2023-05-01", "cosmosdb": "2024-11-15", "cognitive": "2024-10-01",
	"search": "2023-11-01", "eventhubs": "2024-01-01", "servicebus": "2021-11-01",
}

// TestEveryTypeAtItsPreviousAPIVersion: each type's pinned api-version is
// newer than the one keysync pinned before, and an account that names the
// older one with api_version still reads and rotates its keys at it: every
// request carries it, and Vault records it as the secret's provenance.
func TestEveryTypeAtItsPreviousAPIVersion(t *testing.T) {
	shared(t)
	for _, typ := range slices.Sorted(maps.Keys(previousAPIVersions)) {
		t.Run(typ, func(t *testing.T) {
			t.Parallel()
			old := previousAPIVersions[typ]
			if pinned := sources.Types[typ].APIVersion; pinned <= old {
				t.Fatalf("keysync pins %s, not newer than the %s it pinned before", pinned, old)
			}
			x := newRotRes(t, typ)
			cfg := rotConfig("1s", "1s", fmt.Sprintf("api_version = %q\n", old), x)
			run(t, cfg, "--run-now").expect(t, 0)
			pair := sources.Types[typ].Rotation.Pairs[0]
			rotateOnce(t, x, cfg, activeField(0, pair), pair.Keys[1], 1)
			reqs := emu.RequestsOf(x.r)
			for _, r := range reqs {
				if q, _ := url.ParseQuery(r.RawQuery); q.Get("api-version") != old {
					t.Errorf("%s %s?%s: want api-version %s", r.Method, r.Path, r.RawQuery, old)
				}
			}
			if got := readV2(t, x.path).meta["api-version"]; got != old {
				t.Errorf("provenance api-version %v, want %s", got, old)
			}
		})
	}
}

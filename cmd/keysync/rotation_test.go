package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/keysync/keysync/config"
	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/plan"
)

// TestRotationPairs: an account rotates every pair of its type unless
// rotate_keys names some; a type's first pair names its active key in
// "active", another in "active-<name>", whichever rotate_keys lists.
func TestRotationPairs(t *testing.T) {
	every := config.Duration{Duration: time.Hour}
	rw := plan.Pair{Active: "active", Keys: [2]string{"primaryMasterKey", "secondaryMasterKey"}}
	ro := plan.Pair{Active: "active-readonly", Keys: [2]string{"primaryReadonlyMasterKey", "secondaryReadonlyMasterKey"}}
	for _, tt := range []struct {
		name string
		typ  string
		s    config.Settings
		want []plan.Pair
	}{
		{"no rotation", "", config.Settings{}, nil},
		{"batch", "", config.Settings{RotateEvery: every}, []plan.Pair{plan.DefaultPair}},
		{"storage", "storage", config.Settings{RotateEvery: every}, []plan.Pair{{Active: "active", Keys: [2]string{"key1", "key2"}}}},
		{"cosmosdb: both pairs", "cosmosdb", config.Settings{RotateEvery: every}, []plan.Pair{rw, ro}},
		{"cosmosdb: read-only only", "cosmosdb", config.Settings{RotateEvery: every, RotateKeys: []string{"readonly"}}, []plan.Pair{ro}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := rotation(tt.s, sources.Account{Type: tt.typ}.Spec())
			if tt.want == nil {
				if r != nil {
					t.Fatalf("%+v", r)
				}
				return
			}
			if r == nil || fmt.Sprint(r.Pairs) != fmt.Sprint(tt.want) || r.Every != time.Hour {
				t.Fatalf("%+v, want pairs %v", r, tt.want)
			}
		})
	}
}

// TestOneJobMapping: the same settings in an [[account]] and in a
// [[discover]] block give the same job settings: adopt, the fields' map
// and the rotation policy come from one mapping.
func TestOneJobMapping(t *testing.T) {
	const settings = "adopt = true\nrotate_every = \"2h\"\nrotate_grace = \"30m\"\nrotate_keys = [\"readonly\"]\n"
	cfg, err := config.Parse("[[account]]\nsubscription_id = \"00000000-0000-0000-0000-000000000000\"\nresource_group = \"rg\"\n" +
		"name = \"acct01\"\npath = \"p\"\ntype = \"cosmosdb\"\n" + settings +
		"[[discover]]\ntype = \"cosmosdb\"\npath = \"d/{name}\"\n" + settings)
	if err != nil {
		t.Fatal(err)
	}
	listed, found := accounts(cfg)[0].Job, blocks(cfg)[0].Job
	if !listed.Adopt || !found.Adopt {
		t.Errorf("adopt: listed %t, found %t", listed.Adopt, found.Adopt)
	}
	if listed.Rotate == nil || found.Rotate == nil || fmt.Sprintf("%+v", *listed.Rotate) != fmt.Sprintf("%+v", *found.Rotate) {
		t.Fatalf("rotation: listed %+v, found %+v", listed.Rotate, found.Rotate)
	}
	if r := listed.Rotate; r.Every != 2*time.Hour || r.Grace != 30*time.Minute || len(r.Pairs) != 1 || r.Pairs[0].Active != "active-readonly" {
		t.Errorf("rotation %+v, want the file's period, grace and the read-only pair", r)
	}
}

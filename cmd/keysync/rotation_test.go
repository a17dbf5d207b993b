package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/keysync/keysync/config"
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
		a    config.Account
		want []plan.Pair
	}{
		{"no rotation", config.Account{}, nil},
		{"batch", config.Account{RotateEvery: every}, []plan.Pair{plan.DefaultPair}},
		{"storage", config.Account{Type: "storage", RotateEvery: every}, []plan.Pair{{Active: "active", Keys: [2]string{"key1", "key2"}}}},
		{"cosmosdb: both pairs", config.Account{Type: "cosmosdb", RotateEvery: every}, []plan.Pair{rw, ro}},
		{"cosmosdb: read-only only", config.Account{Type: "cosmosdb", RotateEvery: every, RotateKeys: []string{"readonly"}}, []plan.Pair{ro}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := rotation(tt.a)
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

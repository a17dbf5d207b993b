package scheduler

import (
	"reflect"
	"testing"
	"unsafe"

	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/account"
	"github.com/keysync/keysync/sync/derive/spec"
	"github.com/keysync/keysync/sync/plan"
)

// TestPackedRoundTrip: a packed job unpacks to the job given, and jobs
// that differ only in name, path, tags and the properties their discovery
// read share one shared part (each keeping its own properties), while any
// other difference (fields by content included) gives its own.
func TestPackedRoundTrip(t *testing.T) {
	origin, rot := &account.Origin{Block: "b", Scope: "s"}, &plan.Rotation{}
	base := account.Job{Account: sources.Account{SubscriptionID: "sub", ResourceGroup: "rg", Type: "storage", APIVersion: "2023-05-01"},
		Adopt: true, Fields: map[string]string{"key1": "a", "key2": "b"}, Origin: origin}
	jobs := []account.Job{base, base, base, base, base, base, base, base}
	for i := range jobs {
		jobs[i].Account.Name, jobs[i].Path = "n"+string(rune('a'+i)), "p/"+string(rune('a'+i))
	}
	jobs[1].Tags = map[string]string{"owner": "x"}
	jobs[2].Fields = map[string]string{"key2": "b", "key1": "a"} // same content, another map
	jobs[3].Rotate = rot
	jobs[4].Fields = map[string]string{"key1": "b", "key2": "a"}
	jobs[5].Account.ResourceGroup = "rg2"
	jobs[6].Derived = []spec.Spec{{Name: "sas", Kind: spec.StorageAccountSAS}}
	jobs[7].Props = map[string]string{"blob": "https://nh.blob.core.windows.net/"}
	var pk packer
	ps := make([]packed, len(jobs))
	for i, j := range jobs {
		ps[i] = pk.pack(j)
		if got := ps[i].Job(); !reflect.DeepEqual(got, j) {
			t.Errorf("job %d unpacks to %+v, want %+v", i, got, j)
		}
	}
	for i, same := range []bool{true, true, true, false, false, false, false, true} {
		if got := ps[i].Shared() == ps[0].Shared(); got != same {
			t.Errorf("job %d shares job 0's part: %t, want %t", i, got, same)
		}
	}
}

// TestCompact: compacted jobs unpack as before, their names and paths all
// in one string.
func TestCompact(t *testing.T) {
	var pk packer
	jobs := []account.Job{{Account: sources.Account{Name: "one"}, Path: "p/one"}, {Account: sources.Account{Name: ""}, Path: "p/empty"}, {Account: sources.Account{Name: "three"}, Path: ""}}
	ps := make([]packed, len(jobs))
	ptrs := make([]*packed, len(jobs))
	for i, j := range jobs {
		ps[i] = pk.pack(j)
		ptrs[i] = &ps[i]
	}
	compact(ptrs)
	for i, j := range jobs {
		if got := ps[i].Job(); !reflect.DeepEqual(got, j) {
			t.Errorf("job %d compacts to %+v, want %+v", i, got, j)
		}
	}
	if n := testing.AllocsPerRun(10, func() { compact(ptrs) }); n != 1 {
		t.Errorf("compact made %v allocations, want one string for all", n)
	}
}

// TestPackedSizes: what the scheduler keeps per account (on a 64-bit
// platform) stays this size. An estate holds 100,000 of each, so a change
// here changes the daemon's memory (make bench) and is made on purpose,
// with this test, not found later in a comment that no longer holds.
func TestPackedSizes(t *testing.T) {
	for _, tt := range []struct {
		name      string
		got, want uintptr
	}{
		// props: 8 bytes an account for a discovery's endpoints (nil
		// unless its derived values read them).
		{"packed", unsafe.Sizeof(packed{}), 56},
		{"held", unsafe.Sizeof(held{}), 72},
		{"state", unsafe.Sizeof(state{}), 192},
		{"view", unsafe.Sizeof(view{}), 64},
		{"indexEntry", unsafe.Sizeof(indexEntry{}), 8},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("%s takes %d bytes, want %d", tt.name, tt.got, tt.want)
			}
		})
	}
}

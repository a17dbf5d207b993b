package runner

import (
	"reflect"
	"testing"

	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/derive/spec"
	"github.com/keysync/keysync/sync/plan"
)

// TestPackedRoundTrip: a packed job unpacks to the job given, and jobs
// that differ only in name, path and tags share one shared part, while any
// other difference (fields by content included) gives its own.
func TestPackedRoundTrip(t *testing.T) {
	origin, rot := &Origin{Block: "b", Scope: "s"}, &plan.Rotation{}
	base := Job{Account: sources.Account{SubscriptionID: "sub", ResourceGroup: "rg", Type: "storage", APIVersion: "2023-05-01"},
		Adopt: true, Fields: map[string]string{"key1": "a", "key2": "b"}, Origin: origin}
	jobs := []Job{base, base, base, base, base, base, base}
	for i := range jobs {
		jobs[i].Account.Name, jobs[i].Path = "n"+string(rune('a'+i)), "p/"+string(rune('a'+i))
	}
	jobs[1].Tags = map[string]string{"owner": "x"}
	jobs[2].Fields = map[string]string{"key2": "b", "key1": "a"} // same content, another map
	jobs[3].Rotate = rot
	jobs[4].Fields = map[string]string{"key1": "b", "key2": "a"}
	jobs[5].Account.ResourceGroup = "rg2"
	jobs[6].Derived = []spec.Spec{{Name: "sas", Kind: spec.StorageAccountSAS}}
	var pk Packer
	packed := make([]Packed, len(jobs))
	for i, j := range jobs {
		packed[i] = pk.Pack(j)
		if got := packed[i].Job(); !reflect.DeepEqual(got, j) {
			t.Errorf("job %d unpacks to %+v, want %+v", i, got, j)
		}
	}
	for i, same := range []bool{true, true, true, false, false, false, false} {
		if got := packed[i].Shared() == packed[0].Shared(); got != same {
			t.Errorf("job %d shares job 0's part: %t, want %t", i, got, same)
		}
	}
}

// TestCompact: compacted jobs unpack as before, their names and paths all
// in one string.
func TestCompact(t *testing.T) {
	var pk Packer
	jobs := []Job{{Account: sources.Account{Name: "one"}, Path: "p/one"}, {Account: sources.Account{Name: ""}, Path: "p/empty"}, {Account: sources.Account{Name: "three"}, Path: ""}}
	packed := make([]Packed, len(jobs))
	ptrs := make([]*Packed, len(jobs))
	for i, j := range jobs {
		packed[i] = pk.Pack(j)
		ptrs[i] = &packed[i]
	}
	Compact(ptrs)
	for i, j := range jobs {
		if got := packed[i].Job(); !reflect.DeepEqual(got, j) {
			t.Errorf("job %d compacts to %+v, want %+v", i, got, j)
		}
	}
	if n := testing.AllocsPerRun(10, func() { Compact(ptrs) }); n != 1 {
		t.Errorf("Compact made %v allocations, want one string for all", n)
	}
}

package config

import (
	"fmt"
	"testing"
)

func TestShardsPartitionTheAccounts(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7} {
		owners := map[string]int{}
		perShard := make([]int, n)
		for i := range n {
			s, err := ParseShard(fmt.Sprintf("%d/%d", i, n))
			if err != nil {
				t.Fatal(err)
			}
			for a := range 1000 {
				id := fmt.Sprintf("/subscriptions/s%d/resourceGroups/rg/providers/Microsoft.Batch/batchAccounts/a%d", a%13, a)
				if s.Owns(id) {
					owners[id]++
					perShard[i]++
				}
			}
		}
		if len(owners) != 1000 {
			t.Fatalf("n=%d: %d of 1000 accounts have an owner", n, len(owners))
		}
		for id, k := range owners {
			if k != 1 {
				t.Fatalf("n=%d: %s owned %d times", n, id, k)
			}
		}
		for i, c := range perShard {
			if n > 1 && (c < 1000/n/2 || c > 1000/n*2) {
				t.Errorf("n=%d: shard %d has %d accounts, badly balanced", n, i, c)
			}
		}
	}
	a, _ := ParseShard("1/3")
	if a.Owns("/subscriptions/X/resourceGroups/RG/providers/Microsoft.Batch/batchAccounts/A") !=
		a.Owns("/subscriptions/x/resourcegroups/rg/providers/microsoft.batch/batchaccounts/a") {
		t.Error("the shard depends on the id's case")
	}
}

func TestParseShardRejects(t *testing.T) {
	for _, s := range []string{"3/3", "-1/2", "1", "a/b", "0/0", "1/2/3"} {
		if _, err := ParseShard(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

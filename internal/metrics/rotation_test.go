package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

type fixedProblems struct {
	current int
	found   uint64
}

func (f fixedProblems) Current() int  { return f.current }
func (f fixedProblems) Found() uint64 { return f.found }

// TestRotationProblems: the two series read the daemon's problems at each
// scrape, 0 before it sets them.
func TestRotationProblems(t *testing.T) {
	m := New("test")
	const head = `# HELP keysync_rotation_problems Secrets whose latest sync found rotation metadata keysync did not trust (a time after the version it describes, a record that cannot be in flight), or that cannot rotate (a KV version 1 mount).
# TYPE keysync_rotation_problems gauge
keysync_rotation_problems %s
# HELP keysync_rotation_problems_found_total Syncs that found rotation metadata keysync did not trust; each was ignored and repaired. Someone other than keysync may be writing it.
# TYPE keysync_rotation_problems_found_total counter
keysync_rotation_problems_found_total %s
`
	names := []string{"keysync_rotation_problems", "keysync_rotation_problems_found_total"}
	if err := testutil.GatherAndCompare(m.reg, strings.NewReader(strings.ReplaceAll(strings.Replace(head, "%s", "0", 1), "%s", "0")), names...); err != nil {
		t.Fatal(err)
	}
	m.SetRotationProblems(fixedProblems{current: 1, found: 3})
	if err := testutil.GatherAndCompare(m.reg, strings.NewReader(strings.Replace(strings.Replace(head, "%s", "1", 1), "%s", "3", 1)), names...); err != nil {
		t.Fatal(err)
	}
}

package armemu

import (
	"fmt"
	"testing"
)

// Tag queries keysync sends for tags = { keysync = "true" }, has_tags =
// ["owner"], not_tags = { env = "dev" }: before issue #22, with the tag
// names as written (tags['keysync']: case-sensitive in Resource Graph),
// and after, on the tags lower-cased once a row.
const (
	benchCaseSensitive = `Resources
| where type =~ 'Microsoft.Batch/batchAccounts'
| where tostring(tags['keysync']) =~ 'true'
| where isnotempty(tags['owner'])
| where isempty(tags['env']) or tostring(tags['env']) !~ 'dev'
| project id, name, type, subscriptionId, resourceGroup
| order by id asc`
	benchCaseInsensitive = `Resources
| where type =~ 'Microsoft.Batch/batchAccounts'
| extend keysyncTags = todynamic(tolower(tostring(tags)))
| where tostring(keysyncTags[tolower('keysync')]) == tolower('true')
| where isnotempty(keysyncTags[tolower('owner')])
| where isempty(keysyncTags[tolower('env')]) or tostring(keysyncTags[tolower('env')]) != tolower('dev')
| project id, name, type, subscriptionId, resourceGroup
| order by id asc`
)

// BenchmarkGraphTagQuery evaluates both queries over 100,000 resources of
// 500 subscriptions, each with five tags, half of them selected: the cost
// in the emulator of matching tag names without case (issue #22). It says
// what the emulator pays per query, not what Resource Graph charges.
func BenchmarkGraphTagQuery(b *testing.B) {
	e := New()
	for i := range 100_000 {
		r := Resource{Subscription: fmt.Sprintf("bbbbbbbb-0000-0000-0000-%012d", i%500), ResourceGroup: "rg", Name: fmt.Sprintf("acct%06d", i)}
		e.Add(r)
		tags := map[string]string{"owner": "team", "cost-center": "cc1", "env": "prod", "app": fmt.Sprint(i)}
		if i%2 == 0 {
			tags["keysync"] = "true"
		}
		if err := e.SetTags(r, tags); err != nil {
			b.Fatal(err)
		}
	}
	e.mu.Lock()
	e.listedResources()
	e.mu.Unlock()
	for _, bb := range []struct{ name, q string }{{"case-sensitive", benchCaseSensitive}, {"case-insensitive", benchCaseInsensitive}} {
		q, err := parseQuery(bb.q)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bb.name, func(b *testing.B) {
			var rows int
			for b.Loop() {
				rows = len(e.runQuery(q, nil))
			}
			b.ReportMetric(float64(rows), "rows")
		})
	}
}

package azure

import (
	"strings"
	"testing"

	"github.com/keysync/keysync/sources"
)

func TestQuery(t *testing.T) {
	s := sources.Selector{Type: "Batch", ResourceGroups: []string{"rg-a", "RG-B"}, Tags: []sources.TagMatch{
		{Key: "keysync", Value: "true"},
		{Key: "owner", Op: sources.TagPresent},
		{Key: "legacy", Op: sources.TagAbsent},
		{Key: "env", Op: sources.TagNotEquals, Value: "it's"},
	}}
	want := `Resources
| where type =~ 'Microsoft.Batch/batchAccounts'
| where resourceGroup in~ ('rg-a', 'RG-B')
| extend keysyncTags = todynamic(tolower(tostring(tags)))
| where tostring(keysyncTags[tolower('keysync')]) == tolower('true')
| where isnotempty(keysyncTags[tolower('owner')])
| where isempty(keysyncTags[tolower('legacy')])
| where isempty(keysyncTags[tolower('env')]) or tostring(keysyncTags[tolower('env')]) != tolower('it\'s')
| project id, name, type, subscriptionId, resourceGroup
| order by id asc`
	if got := query(s); got != want {
		t.Fatalf("query:\n%s\nwant:\n%s", got, want)
	}
	s.KeepTags = []string{"owner"}
	if got := query(s); !strings.Contains(got, "| project id, name, type, subscriptionId, resourceGroup, tags\n") {
		t.Fatalf("tags to keep are not projected:\n%s", got)
	}
}

// TestQueryQuotes: a value cannot end its literal and add KQL.
func TestQueryQuotes(t *testing.T) {
	s := sources.Selector{Type: "batch", Tags: []sources.TagMatch{{Key: `k'] or 1==1 //`, Value: `x\' | take 1`}}}
	q := query(s)
	if !strings.Contains(q, `keysyncTags[tolower('k\'] or 1==1 //')]`) || !strings.Contains(q, `== tolower('x\\\' | take 1')`) {
		t.Fatalf("literal not quoted:\n%s", q)
	}
}

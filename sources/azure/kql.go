package azure

import (
	"strings"

	"github.com/keysync/keysync/sources"
)

// query is the Azure Resource Graph query (KQL) that finds the selector's
// resources, one row per resource with the columns discovery reads. Only
// Validate'd selectors make sense here; every literal is quoted.
//
// The Resources table's type and resourceGroup columns are lower-case, so
// the query compares them with =~ and in~
// (learn.microsoft.com/azure/governance/resource-graph/concepts/explore-resources);
// paging needs the id column and a stable order
// (learn.microsoft.com/azure/governance/resource-graph/concepts/paging-results).
//
// Tag names are case-insensitive in ARM, which may keep the case an
// author typed ("Tag names are case-insensitive for operations", tag
// values are case-sensitive:
// learn.microsoft.com/azure/azure-resource-manager/management/tag-resources),
// but tags['keysync'] finds a tag only as written (Resource Graph's
// samples call tags['Key1'] =~ 'Value1' a "case-sensitive tag" match,
// MicrosoftDocs/azure-docs includes/resource-graph/samples/bycat/tags.md).
// So the tags are lower-cased once a row, names and values, and looked up
// by the lower-cased name, as Azure Update Management's own dynamic-group
// query does (project ... tags = todynamic(tolower(tostring(tags))) | where
// tags[tolower("<tagKey1>")] =~ "<tagValue1>";
// learn.microsoft.com/azure/automation/troubleshoot/update-management,
// "ARG query doesn't return expected machines"). The published
// case-insensitive sample expands the tags instead (mv-expand
// bagexpansion=array), which drops rows without tags ("If the dynamic value
// is an empty array or property bag, no record is produced",
// learn.microsoft.com/kusto/query/mv-expand-operator) and needs summarize,
// whose answers Resource Graph does not page, to join several conditions
// of one resource.
func query(s sources.Selector) string {
	t := sources.Types[strings.ToLower(s.Type)]
	lines := []string{"Resources", "| where type =~ " + kqlString(t.Provider)}
	if len(s.ResourceGroups) > 0 {
		quoted := make([]string, len(s.ResourceGroups))
		for i, rg := range s.ResourceGroups {
			quoted[i] = kqlString(rg)
		}
		lines = append(lines, "| where resourceGroup in~ ("+strings.Join(quoted, ", ")+")")
	}
	if len(s.Tags) > 0 {
		lines = append(lines, "| extend "+lowerTags+" = todynamic(tolower(tostring(tags)))")
	}
	for _, m := range s.Tags {
		lines = append(lines, "| where "+tagCondition(m))
	}
	project := "| project id, name, type, subscriptionId, resourceGroup"
	if len(s.KeepTags) > 0 {
		project += ", tags"
	}
	if t.Provider == sources.Types["storage"].Provider {
		lines = append(lines, "| extend "+endpointsColumn+" = properties.primaryEndpoints")
		project += ", " + endpointsColumn
	}
	lines = append(lines, project, "| order by id asc")
	return strings.Join(lines, "\n")
}

// lowerTags is the column query extends with the lower-cased tags; project
// drops it.
const lowerTags = "keysyncTags"

// endpointsColumn is the column a Storage query extends with the
// account's properties.primaryEndpoints, the Endpoints object of its GET
// answer (storage/resource-manager/Microsoft.Storage/Storage/stable/2026-06-01/openapi.json,
// StorageAccountProperties.primaryEndpoints): Resource Graph's Resources
// table answers a resource's properties as ARM does, and reads a field of
// them by dot ("Access a properties field",
// learn.microsoft.com/rest/api/azureresourcegraph/resourcegraph/resources/resources;
// learn.microsoft.com/kusto/query/scalar-data-types/dynamic, "Dynamic
// object accessors"), so a discovery spares the GET per account that a
// connection string would otherwise cost.
const endpointsColumn = "primaryEndpoints"

// tagCondition is m's condition on the lower-cased tags: each literal
// lower-cased by tolower too, so that both sides are lower-cased alike.
func tagCondition(m sources.TagMatch) string {
	tag := lowerTags + "[tolower(" + kqlString(m.Key) + ")]"
	value := "tolower(" + kqlString(m.Value) + ")"
	switch m.Op {
	case sources.TagNotEquals:
		return "isempty(" + tag + ") or tostring(" + tag + ") != " + value
	case sources.TagPresent:
		return "isnotempty(" + tag + ")"
	case sources.TagAbsent:
		return "isempty(" + tag + ")"
	default:
		return "tostring(" + tag + ") == " + value
	}
}

// kqlString quotes s as a KQL string literal: single quotes, with the
// backslash and the quote escaped. sources.Selector.Validate has refused control
// characters, so nothing else needs escaping.
func kqlString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	return "'" + r.Replace(s) + "'"
}

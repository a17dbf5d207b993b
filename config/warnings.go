package config

import (
	"cmp"
	"fmt"
	"strings"

	"github.com/keysync/keysync/sources"
)

// nameScope is where Azure keeps a type's resource names unique.
type nameScope string

const (
	scopeGlobal        nameScope = "global"
	scopeRegion        nameScope = "region"
	scopeResourceGroup nameScope = "resource group"
)

// nameScopes is the scope of each type's names, from "Naming rules and
// restrictions for Azure resources"
// (learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules:
// Microsoft.Batch batchAccounts "Region"; Microsoft.CognitiveServices
// accounts and Microsoft.Maps accounts "resource group";
// Microsoft.DocumentDB databaseAccounts, Microsoft.EventHub namespaces,
// Microsoft.Cache Redis, Microsoft.ServiceBus namespaces,
// Microsoft.SignalRService signalR and Microsoft.Storage storageAccounts
// "global"), and for Microsoft.Search searchServices from its
// checkNameAvailability operation in Azure/azure-rest-api-specs
// (specification/search/resource-manager/Microsoft.Search/stable/2023-11-01/search.json:
// "Search service names must be globally unique since they are part of
// the service URI").
var nameScopes = map[string]nameScope{
	"batch":      scopeRegion,
	"cognitive":  scopeResourceGroup,
	"maps":       scopeResourceGroup,
	"cosmosdb":   scopeGlobal,
	"eventhubs":  scopeGlobal,
	"redis":      scopeGlobal,
	"search":     scopeGlobal,
	"servicebus": scopeGlobal,
	"signalr":    scopeGlobal,
	"storage":    scopeGlobal,
}

// Warnings lists what is valid but unsafe in the file: each [[discover]]
// block whose path template cannot tell apart two resources that Azure
// lets share a name within the block's scope. Such resources claim one
// path; the one found there before keeps it, but a newcomer is left out,
// and someone who may create resources in one resource group can make
// that happen to another's account. --validate prints them; the daemon
// and --run-now log them.
func (c *Config) Warnings() Problems {
	var p Problems
	for i, d := range c.Discover {
		c.warnTemplate(&p, fmt.Sprintf("discover[%d].path", i), i, d.Path)
	}
	for i, d := range c.Discover {
		warnSharedSegment(&p, fmt.Sprintf("discover[%d].path", i), d.Path)
		// A derived value's own path template makes one path per
		// account as the block's does, and fails alike.
		for k, dv := range d.Derived {
			if dv.Path != "" {
				key := fmt.Sprintf("discover[%d].derived[%d].path", i, k)
				c.warnTemplate(&p, key, i, dv.Path)
				warnSharedSegment(&p, key, dv.Path)
			}
		}
	}
	return p
}

// warnTemplate warns of block i's template tmpl (at key) when it cannot
// tell apart two resources Azure lets share a name within the block's
// scope.
func (c *Config) warnTemplate(p *Problems, key string, i int, tmpl string) {
	d := c.Discover[i]
	typ := strings.ToLower(cmp.Or(d.Type, sources.DefaultType))
	scope, ok := nameScopes[typ]
	if !ok || scope == scopeGlobal {
		c.warnRules(p, key, i, typ, tmpl)
		return
	}
	var missing []string
	if len(d.ResourceGroups) != 1 && !strings.Contains(tmpl, "{resource_group}") {
		missing = append(missing, "{resource_group}")
	}
	if (d.ManagementGroup != "" || len(d.Subscriptions) != 1) && !strings.Contains(tmpl, "{subscription}") {
		missing = append(missing, "{subscription}")
	}
	if len(missing) > 0 {
		p.add(key, "%s names are unique only within a %s, and the block may find two of one name: a template without %s gives both one path (see docs/discovery.md, \"Names Azure lets two resources share\")",
			typ, scope, strings.Join(missing, " and "))
	}
}

// warnSharedSegment warns of a template with two variables in one path
// segment ("{resource_group}-{name}"): names and resource groups may hold
// the characters between them, so two resources can make one path ("a-b"
// and "c", "a" and "b-c").
func warnSharedSegment(p *Problems, key, tmpl string) {
	for _, seg := range strings.Split(tmpl, "/") {
		if strings.Count(seg, "{") > 1 {
			p.add(key, "segment %q holds two variables: values may hold what separates them, so two resources can make one path; give each variable a segment of its own", seg)
			return
		}
	}
}

// warnRules warns of a block of a type with authorization rules (whose
// namespaces Azure names globally) that another block of the type reads
// with another rule, when its template has no {rule}: the two rules of
// one namespace would claim one path.
func (c *Config) warnRules(p *Problems, key string, i int, typ, tmpl string) {
	d := c.Discover[i]
	if t, ok := sources.Types[typ]; !ok || t.Child == "" || strings.Contains(tmpl, "{rule}") {
		return
	}
	for j, o := range c.Discover {
		if j != i && strings.EqualFold(cmp.Or(o.Type, sources.DefaultType), typ) && !strings.EqualFold(o.Rule, d.Rule) {
			p.add(key, "discover[%d] reads another rule of %s namespaces: a template without {rule} gives a namespace's two rules one path", j, typ)
			return
		}
	}
}

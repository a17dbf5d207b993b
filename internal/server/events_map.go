package server

import (
	"strings"

	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/scheduler"
)

// keyOps maps each lower-cased operation that changes an account's keys to
// its type. It is derived from sources.Types, whose Regenerate names are
// checked against Azure's REST specs and the emulator's table: a
// regenerate is reported as Provider[/Child]/Regenerate/action
// (learn.microsoft.com/azure/role-based-access-control/resource-provider-operations).
//
// A write to the resource (Provider/write, or the rule's
// Provider/Child/write) counts too: it can switch shared-key access off
// (allowSharedKeyAccess, disableLocalAuth) or change a rule's rights, and
// a sync soon after tells /readyz and the metrics at once instead of at
// the next tick. A write is rare next to keysync's own reads, so it costs
// little. The list actions (listKeys, listAdminKeys) are reads, not
// changes: keysync's own syncs cause them, and syncing on them would loop.
var keyOps = buildKeyOps()

func buildKeyOps() map[string]keyOp {
	ops := map[string]keyOp{}
	for name, t := range sources.Types {
		base := t.Provider
		if t.Child != "" {
			base += "/" + t.Child
			// The namespace's write: disableLocalAuth lives there.
			ops[strings.ToLower(t.Provider+"/write")] = keyOp{typ: name, parent: true}
		}
		ops[strings.ToLower(base+"/"+t.Regenerate+"/action")] = keyOp{typ: name}
		ops[strings.ToLower(base+"/write")] = keyOp{typ: name}
	}
	return ops
}

// keyOp is what an operation concerns: accounts of typ, or, for parent,
// every account (rule) of the resource it names.
type keyOp struct {
	typ    string
	parent bool
}

// keyChange returns the resource id of the account whose keys ev says
// changed, in the form the scheduler matches (lower case), or false when
// ev says nothing keysync acts on.
func keyChange(ev *event) (string, bool) {
	if !strings.EqualFold(ev.Type, eventActionSuccess) && !strings.EqualFold(ev.Type, eventWriteSuccess) {
		return "", false
	}
	if !strings.EqualFold(ev.Data.Status, "Succeeded") {
		return "", false
	}
	op, ok := keyOps[strings.ToLower(ev.Data.OperationName)]
	if !ok {
		return "", false
	}
	t := sources.Types[op.typ]
	if op.parent {
		t.Child = ""
	}
	acct, err := sources.ParseResourceID(resourcePart(ev.resource(), t))
	if err != nil || acct.Type != op.typ || (op.parent && acct.Rule != "") {
		return "", false
	}
	if op.parent {
		return scheduler.ParentKey(acct.Key()), true
	}
	return acct.Key(), true
}

// resourcePart cuts an action's scope to the resource id, in case a
// provider reports the action's path under it (Search's
// regenerateAdminKey/{keyKind}).
func resourcePart(id string, t sources.Type) string {
	n := 8 // subscriptions/{s}/resourceGroups/{g}/providers/{ns}/{type}/{name}
	if t.Child != "" {
		n = 10
	}
	seg := strings.SplitN(strings.TrimPrefix(id, "/"), "/", n+1)
	if len(seg) > n {
		seg = seg[:n]
	}
	return "/" + strings.Join(seg, "/")
}

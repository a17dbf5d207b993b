package plan

import (
	"maps"
	"time"

	"github.com/keysync/keysync/sinks"
)

// What happens to the secret of an account that discovery no longer finds
// (on_removed).
const (
	// RemoveKeep leaves the secret as it is.
	RemoveKeep = "keep"
	// RemoveMark records in the secret's metadata when its source went.
	RemoveMark = "mark"
	// RemoveDelete deletes the secret whole, every version and its
	// metadata: only a secret keysync owns, on KV v2.
	RemoveDelete = "delete"
)

// MetaSourceGone is when discovery stopped finding the secret's source.
const MetaSourceGone = "source-gone-at"

// Removal plans what to do with the secret at a path whose account,
// resourceID, discovery no longer finds. It never touches a secret keysync
// does not own, and deletes only a secret provably keysync's for that
// account (provablyOwned).
func Removal(cur sinks.State, policy, resourceID string, now time.Time) Change {
	ch := Change{Action: Unchanged, BaseVersion: cur.Version}
	if policy == RemoveKeep || (!cur.Exists && cur.Metadata == nil) {
		return ch
	}
	if policy == RemoveDelete && cur.Versioned {
		if ok, why := provablyOwned(cur, resourceID); !ok {
			return notDeleted(cur, resourceID, why, now)
		}
	}
	switch {
	case !cur.Versioned:
		return refuse(ch, "KV v1 keeps no metadata: keysync cannot show it owns the secret, so on_removed = \""+policy+"\" leaves it")
	case cur.Metadata[MetaManagedBy] != ManagedByValue:
		return refuse(ch, "secret was not created by keysync (no managed-by=keysync): on_removed leaves it")
	case policy == RemoveDelete:
		ch.Action, ch.Write = Delete, sinks.Write{Delete: true, BaseVersion: cur.Version}
	case cur.Metadata[MetaSourceGone] == "":
		meta := maps.Clone(cur.Metadata)
		meta[MetaSourceGone] = stamp(now)
		ch.Action, ch.Write = Mark, sinks.Write{Metadata: meta, BaseVersion: cur.Version}
	}
	return ch
}

// notDeleted is the removal of a secret that on_removed = "delete" may
// not delete, why says why: a legacy secret (keysync's metadata mark, no
// data mark) is marked as "mark" would; any other is left alone.
func notDeleted(cur sinks.State, resourceID, why string, now time.Time) Change {
	if ownerOf(cur, resourceID) != ownerLegacy {
		return refuse(Change{BaseVersion: cur.Version}, "not deleted: "+why)
	}
	ch := Removal(cur, RemoveMark, resourceID, now)
	ch.Reason = "not deleted: " + why
	return ch
}

func refuse(ch Change, reason string) Change {
	ch.Action, ch.Reason = Refused, reason
	return ch
}

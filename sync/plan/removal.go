package plan

import (
	"fmt"
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
	// RemoveDelete marks the secret as RemoveMark does, then, once the
	// mark is delete_after old and the source is still gone, deletes it
	// whole, every version and its metadata: only a secret keysync owns,
	// on KV v2.
	RemoveDelete = "delete"
)

// MetaSourceGone is when discovery stopped finding the secret's source.
const MetaSourceGone = "source-gone-at"

// Removal plans what to do with the secret at a path whose account,
// resourceID, discovery no longer finds. It never touches a secret keysync
// does not own, and deletes in two steps: the first removal marks the
// secret (MetaSourceGone, now), and a later one, the source still gone,
// deletes it when the mark is at least deleteAfter old and the secret is
// provably keysync's for that account (provablyOwned: the data mark, which
// a writer of the metadata alone cannot forge). A mark keysync cannot read
// is made again: the wait starts over.
func Removal(cur sinks.State, policy, resourceID string, now time.Time, deleteAfter time.Duration) Change {
	ch := Change{Action: Unchanged, BaseVersion: cur.Version}
	if policy == RemoveKeep || (!cur.Exists && cur.Metadata == nil) {
		return ch
	}
	if policy == RemoveDelete && cur.Versioned {
		if ok, why := provablyOwned(cur, resourceID); !ok {
			return notDeleted(cur, resourceID, why, now, deleteAfter)
		}
	}
	switch {
	case !cur.Versioned:
		return refuse(ch, "KV v1 keeps no metadata: keysync cannot show it owns the secret, so on_removed = \""+policy+"\" leaves it")
	case cur.Metadata[MetaManagedBy] != ManagedByValue:
		return refuse(ch, "secret was not created by keysync (no managed-by=keysync): on_removed leaves it")
	}
	if o := ownerOf(cur, resourceID); o == ownerUnproven || o == ownerOther {
		_, why := provablyOwned(cur, resourceID)
		return refuse(ch, "not marked: "+why)
	}
	gone, err := time.Parse(time.RFC3339, cur.Metadata[MetaSourceGone])
	switch {
	case err != nil:
		meta := maps.Clone(cur.Metadata)
		meta[MetaSourceGone] = stamp(now)
		ch.Action, ch.Write = Mark, sinks.Write{Metadata: meta, BaseVersion: cur.Version}
	case policy != RemoveDelete:
	case now.Sub(gone) >= deleteAfter:
		ch.Action, ch.Write = Delete, sinks.Write{Delete: true, BaseVersion: cur.Version}
	default:
		ch.Reason = fmt.Sprintf("source gone since %s: deleted from %s (delete_after %s), if still gone", stamp(gone), stamp(gone.Add(deleteAfter)), deleteAfter)
	}
	return ch
}

// notDeleted is the removal of a secret that on_removed = "delete" may
// not delete, why says why: a legacy secret (keysync's metadata mark, no
// data mark) is marked as "mark" would; any other is left alone.
func notDeleted(cur sinks.State, resourceID, why string, now time.Time, deleteAfter time.Duration) Change {
	if ownerOf(cur, resourceID) != ownerLegacy {
		return refuse(Change{BaseVersion: cur.Version}, "not deleted: "+why)
	}
	ch := Removal(cur, RemoveMark, resourceID, now, deleteAfter)
	ch.Reason = "not deleted: " + why
	return ch
}

func refuse(ch Change, reason string) Change {
	ch.Action, ch.Reason = Refused, reason
	return ch
}

package plan

import (
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/keysync/keysync/secret"
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

// FieldGoneAt is the data field in which on_removed = "delete" records
// when discovery stopped finding the secret's source. The deletion waits
// on it, not on MetaSourceGone: a principal that may write only the
// metadata could move that mark back and have the secret deleted early,
// but cannot write the data.
const FieldGoneAt = "keysync-source-gone-at"

// Gone is what a removal needs to know of the account discovery no longer
// finds and of its block.
type Gone struct {
	// Policy is on_removed: RemoveKeep, RemoveMark or RemoveDelete.
	Policy string
	// ResourceID is the account's; its data mark must name it.
	ResourceID string
	// Fields are the data fields keysync writes for the account (its
	// keys, under their Vault names); nil when unknown, then the
	// fingerprints the metadata names stand in.
	Fields []string
	// DeleteAfter is how long RemoveDelete waits after its mark.
	DeleteAfter time.Duration
	// RefuseLegacy leaves data of a secret without the data mark alone
	// ([vault] legacy_ownership = false): it is marked in its metadata, and
	// never deleted.
	RefuseLegacy bool
}

// Removal plans what to do with the secret at a path whose account
// discovery no longer finds. It never touches a secret keysync does not
// own. "mark" records MetaSourceGone in the metadata. "delete" works in
// two steps: the first removal writes a new version whose data records
// when (FieldGoneAt, with MetaSourceGone beside it for people) and carries
// keysync's data mark; a later one, the source still gone, deletes the
// secret once that time is DeleteAfter old and the secret is provably
// keysync's for that account (provablyOwned). Neither step rests on
// anything a writer of the metadata alone can forge.
func Removal(cur sinks.State, g Gone, now time.Time) Change {
	ch := Change{Action: Unchanged, BaseVersion: cur.Version}
	if g.Policy == RemoveKeep || (!cur.Exists && cur.Metadata == nil) {
		return ch
	}
	switch {
	case !cur.Versioned:
		return refuse(ch, "KV v1 keeps no metadata: keysync cannot show it owns the secret, so on_removed = \""+g.Policy+"\" leaves it")
	case cur.Metadata[MetaManagedBy] != ManagedByValue:
		return refuse(ch, "secret was not created by keysync (no managed-by=keysync): on_removed leaves it")
	}
	switch o := ownerOf(cur, g.ResourceID, g.Fields, nil); {
	case o == ownerUnproven || o == ownerOther:
		_, why := provablyOwned(cur, g.ResourceID, g.Fields)
		return refuse(ch, "not marked: "+why)
	case g.Policy != RemoveDelete:
		return marked(cur, now)
	case !cur.Exists || o == ownerLegacy && g.RefuseLegacy:
		// No data to mark, or data keysync may not write: the metadata
		// mark only, and no deletion.
		_, why := provablyOwned(cur, g.ResourceID, g.Fields)
		ch = marked(cur, now)
		ch.Reason = "not deleted: " + why
		return ch
	}
	return deletion(cur, g, now)
}

// marked is the removal "mark" makes: MetaSourceGone in the metadata,
// once.
func marked(cur sinks.State, now time.Time) Change {
	ch := Change{Action: Unchanged, BaseVersion: cur.Version}
	if _, err := time.Parse(time.RFC3339, cur.Metadata[MetaSourceGone]); err == nil {
		return ch
	}
	meta := maps.Clone(cur.Metadata)
	meta[MetaSourceGone] = stamp(now)
	ch.Action, ch.Write = Mark, sinks.Write{Metadata: meta, BaseVersion: cur.Version}
	return ch
}

// deletion is "delete" of a secret keysync may write: the data mark of
// the time first (a secret written before data marks gets the data mark
// with it), the deletion once that time is DeleteAfter old. A time that
// does not parse is written anew: the wait starts over.
func deletion(cur sinks.State, g Gone, now time.Time) Change {
	ch := Change{Action: Unchanged, BaseVersion: cur.Version}
	v, _ := cur.Data.Field(FieldGoneAt)
	gone, err := time.Parse(time.RFC3339, v.Reveal())
	if err != nil {
		set := secret.Fields{FieldGoneAt: secret.New(stamp(now)), FieldOwner: secret.New(strings.ToLower(g.ResourceID))}
		meta := maps.Clone(cur.Metadata)
		meta[MetaSourceGone] = stamp(now)
		ch.Action = Mark
		ch.Fields = plainChanges(cur.Data, map[string]string{FieldGoneAt: stamp(now)})
		ch.Write = sinks.Write{Data: cur.Data.With(set), Metadata: meta, BaseVersion: cur.Version}
		return ch
	}
	if ok, why := provablyOwned(cur, g.ResourceID, g.Fields); !ok {
		return refuse(ch, "not deleted: "+why)
	}
	if now.Sub(gone) < g.DeleteAfter {
		ch.Reason = fmt.Sprintf("source gone since %s: deleted from %s (delete_after %s), if still gone", stamp(gone), stamp(gone.Add(g.DeleteAfter)), g.DeleteAfter)
		return ch
	}
	ch.Action, ch.Write = Delete, sinks.Write{Delete: true, BaseVersion: cur.Version}
	return ch
}

func refuse(ch Change, reason string) Change {
	ch.Action, ch.Reason = Refused, reason
	return ch
}

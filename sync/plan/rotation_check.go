package plan

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keysync/keysync/secret"
	"github.com/keysync/keysync/sinks"
)

// check judges the rotation metadata a secret holds against what a writer
// of the metadata alone cannot forge: the clock, and the live version's
// time. Every time keysync records beside a version is taken no later
// than that version is written (a baseline without a data write takes the
// version's own time), so a stamp later than the version, give or take
// ClockSkew, was written by someone else; so was a record dated in the
// future.
type check struct {
	now time.Time
	// created is the live version's time, zero when unknown.
	created time.Time
	// since is when the secret's rotation state began, as far as the
	// store can prove: the live version's time, or now when there is
	// none. A baseline, and a stamp found invalid, take it.
	since time.Time
	// latest is the latest a stamp keysync wrote can be, and bound says
	// what it derives from, for a problem.
	latest   time.Time
	bound    string
	problems []string
}

func newCheck(cur sinks.State, now time.Time) *check {
	ck := &check{now: now, since: now, latest: now.Add(ClockSkew), bound: "now"}
	switch {
	case !cur.Versioned:
		ck.problem("rotate_every needs a KV version 2 mount: this one keeps neither versions nor metadata, so nothing is regenerated")
	case !cur.Exists:
	case cur.Created.IsZero():
		ck.problem("Vault answered no created_time for the live version: nothing is regenerated without it")
	case cur.Created.After(now.Add(ClockSkew)):
		ck.created = cur.Created
		ck.problem(fmt.Sprintf("the live version is dated %s, ahead of keysync's clock: nothing is regenerated until the clocks agree", stamp(cur.Created)))
	default:
		ck.created, ck.since = cur.Created, cur.Created
		if now.Before(cur.Created) {
			ck.since = now
		}
		ck.latest, ck.bound = ck.since.Add(ClockSkew), "the live version ("+stamp(cur.Created)+")"
	}
	return ck
}

func (ck *check) problem(s string) { ck.problems = append(ck.problems, s) }

// rotationMeta is the rotation stamps of the existing metadata that
// keysync can trust, the others replaced by ck.since: a pair's missing
// stamp (its baseline), and any stamp that does not parse or lies after
// the live version.
func (ck *check) rotationMeta(cur sinks.State, pairs []Pair) map[string]string {
	out := map[string]string{}
	for _, pair := range pairs {
		if v, ok := cur.Metadata[pair.at()]; ok && cur.Exists {
			out[pair.at()] = ck.stamp(pair.at(), v)
		} else {
			out[pair.at()] = stamp(ck.since)
		}
		for _, key := range pair.Keys {
			if v, ok := cur.Metadata[keyAt(key)]; ok {
				out[keyAt(key)] = ck.stamp(keyAt(key), v)
			}
		}
	}
	return out
}

// stamp is v, the value of the metadata key name, when keysync can trust
// it, else ck.since, with the problem noted.
func (ck *check) stamp(name, v string) string {
	t, err := time.Parse(time.RFC3339, v)
	switch {
	case err != nil:
		ck.problem(fmt.Sprintf("%s does not parse as a time: ignored, replaced by %s", name, stamp(ck.since)))
	case t.After(ck.latest):
		ck.problem(fmt.Sprintf("%s %s is later than %s, which no write of keysync's makes: ignored, replaced by %s",
			name, stamp(t), ck.bound, stamp(ck.since)))
	default:
		return v
	}
	return stamp(ck.since)
}

// What a MetaRotationPending record says, judged.
const (
	recNone   = iota // none, or one keysync ignores
	recDone          // its key changed: this cycle completes it
	recLanded        // the data names its key active already: the metadata write lagged
	recHeld          // its regenerate may still land
)

// pendingRecord is a parsed MetaRotationPending.
type pendingRecord struct {
	key   string
	at    time.Time
	raw   string
	state int
}

// record reads and judges the MetaRotationPending record. One that does
// not parse, is dated in the future, names the active key but is later
// than the version that made it active, or is older than a regenerate can
// run while its key did not change, is ignored and noted (the next write
// removes it).
func (ck *check) record(cur sinks.State, fields secret.Fields, pairs []Pair, inFlight time.Duration) pendingRecord {
	raw, ok := cur.Metadata[MetaRotationPending]
	if !ok {
		return pendingRecord{}
	}
	rec, ok := parseRecord(raw, pairs)
	switch {
	case !ok:
		ck.problem(MetaRotationPending + " does not parse, or names no key of the account's pairs: ignored, removed")
	case rec.at.After(ck.now.Add(ClockSkew)):
		ck.problem(fmt.Sprintf("%s of %s is dated %s, in the future: ignored, removed", MetaRotationPending, rec.key, stamp(rec.at)))
	case keyChanged(cur.Data, fields, rec.key):
		rec.state = recDone
	case namedActive(cur.Data, pairs, rec.key) && !ck.created.IsZero() && !rec.at.After(ck.latest):
		rec.state = recLanded
	case namedActive(cur.Data, pairs, rec.key):
		ck.problem(fmt.Sprintf("%s of %s names the active key but is dated %s, later than %s: ignored, removed",
			MetaRotationPending, rec.key, stamp(rec.at), ck.bound))
	case ck.now.Sub(rec.at) < inFlight:
		rec.state = recHeld
	default:
		ck.problem(fmt.Sprintf("%s of %s (%s) is older than a regenerate can run (%s) and the key did not change: that regenerate did not land; ignored, removed",
			MetaRotationPending, rec.key, stamp(rec.at), inFlight))
	}
	return rec
}

// parseRecord parses a MetaRotationPending record, if it names a key of
// one of pairs.
func parseRecord(raw string, pairs []Pair) (pendingRecord, bool) {
	key, at, ok := strings.Cut(raw, " ")
	t, err := time.Parse(time.RFC3339, at)
	if !ok || err != nil {
		return pendingRecord{}, false
	}
	for _, pair := range pairs {
		if slices.Contains(pair.Keys[:], key) {
			return pendingRecord{key: key, at: t, raw: raw}, true
		}
	}
	return pendingRecord{}, false
}

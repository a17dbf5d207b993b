package plan

import (
	"strings"
	"testing"
	"time"

	"github.com/keysync/keysync/secret"
	"github.com/keysync/keysync/sinks"
)

// The rotation metadata is custom metadata: a principal that may write a
// secret's metadata but not its data can set any of it. These tests give
// the plan what such a principal can forge, and the live version's time,
// which it cannot.

var (
	epoch      = stamp(time.Unix(0, 0))
	inTenYears = stamp(now.Add(10 * 365 * day))
	sameKeys   = secret.Fields{"primary": secret.New(keyA), "secondary": secret.New(keyB)}
)

// batch is a Batch secret naming active, with meta, whose live version was
// written age ago.
func batch(active string, meta map[string]string, age time.Duration) sinks.State {
	return aged(v2(3, map[string]any{"primary": keyA, "secondary": keyB, FieldActive: active}, meta), age)
}

// TestForgedStampsCannotRegenerateEarly: stamps that say the period (and
// the key's grace) passed long ago do not regenerate a key while the live
// version, which holds the last move of active, is younger than the
// period; once it is old enough, the key rotates as usual.
func TestForgedStampsCannotRegenerateEarly(t *testing.T) {
	p := Rotation{Every: 30 * day, Grace: day, InFlight: time.Hour}
	forged := map[string]string{MetaRotatedAt: epoch, MetaRotatedPrefix + "primary-at": epoch, MetaRotatedPrefix + "secondary-at": epoch}
	tests := []struct {
		name  string
		age   time.Duration
		regen string
	}{
		{"the version an hour old", time.Hour, ""},
		{"the version a day short of the period", 29 * day, ""},
		{"the version a period old", 30 * day, "secondary"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rp := decideRotation(batch("primary", forged, tt.age), sameKeys, p, now)
			if rp.Regenerate != tt.regen || len(rp.Problems) != 0 {
				t.Fatalf("regenerated %q, problems %q; want %q", rp.Regenerate, rp.Problems, tt.regen)
			}
		})
	}
}

// TestGraceKeepsTheOldKeyAlive: the key active moved away from is not
// regenerated within rotate_grace of the move, however short the period
// and whatever the stamps say.
func TestGraceKeepsTheOldKeyAlive(t *testing.T) {
	p := Rotation{Every: time.Hour, Grace: day, InFlight: time.Hour}
	// The last rotation moved active to secondary, writing the version.
	meta := map[string]string{MetaRotatedAt: at(2 * time.Hour), MetaRotatedPrefix + "secondary-at": at(2 * time.Hour)}
	tests := []struct {
		name  string
		age   time.Duration
		meta  map[string]string
		regen string
	}{
		{"a period after the move", 2 * time.Hour, meta, ""},
		{"with the stamps forged old", 2 * time.Hour, map[string]string{MetaRotatedAt: epoch, MetaRotatedPrefix + "primary-at": epoch}, ""},
		{"just inside the grace", day - time.Second, meta, ""},
		{"the grace over", day, meta, "primary"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if rp := decideRotation(batch("secondary", tt.meta, tt.age), sameKeys, p, now); rp.Regenerate != tt.regen {
				t.Fatalf("regenerated %q, want %q", rp.Regenerate, tt.regen)
			}
		})
	}
}

// TestInvalidStampsAreReportedAndDoNotFreeze: a stamp dated after the live
// version (in the future, or merely after the last data write, which no
// write of keysync's makes) or one that does not parse is ignored, noted,
// and replaced by the version's time; the rotation goes on by the version.
func TestInvalidStampsAreReportedAndDoNotFreeze(t *testing.T) {
	p := Rotation{Every: 30 * day, Grace: day, InFlight: time.Hour}
	tests := []struct {
		name, key, value string
		age              time.Duration
		regen            string
	}{
		{"rotated-at in the future", MetaRotatedAt, inTenYears, 31 * day, "secondary"},
		{"rotated-at after the version", MetaRotatedAt, at(day), 31 * day, "secondary"},
		{"rotated-at in the future, the version young", MetaRotatedAt, inTenYears, day, ""},
		{"rotated-at that does not parse", MetaRotatedAt, "soon", 31 * day, "secondary"},
		{"the inactive key's stamp in the future", MetaRotatedPrefix + "secondary-at", inTenYears, 31 * day, "secondary"},
		{"the inactive key's stamp after the version", MetaRotatedPrefix + "secondary-at", at(time.Hour), 31 * day, "secondary"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			meta := map[string]string{MetaRotatedAt: at(40 * day), tt.key: tt.value}
			rp := decideRotation(batch("primary", meta, tt.age), sameKeys, p, now)
			if rp.Regenerate != tt.regen {
				t.Fatalf("regenerated %q, want %q", rp.Regenerate, tt.regen)
			}
			if len(rp.Problems) != 1 || !strings.Contains(rp.Problems[0], tt.key) {
				t.Fatalf("problems %q", rp.Problems)
			}
			if tt.regen == "" && rp.Meta[tt.key] != at(tt.age) {
				t.Fatalf("%s repaired to %q, want the version's time %q", tt.key, rp.Meta[tt.key], at(tt.age))
			}
		})
	}
}

// TestInvalidRecordsAreReportedAndIgnored: a rotation-pending record dated
// in the future, or older than a regenerate can run with its key
// unchanged, holds nothing back; it is noted and removed.
func TestInvalidRecordsAreReportedAndIgnored(t *testing.T) {
	p := Rotation{Every: 30 * day, Grace: day, InFlight: time.Hour}
	tests := []struct {
		name, record string
		problems     int
		held         string
		regen        string
	}{
		{"in the future", "secondary " + inTenYears, 1, "", "secondary"},
		{"just ahead, within the clock skew", "secondary " + stamp(now.Add(time.Minute)), 0, "secondary", ""},
		{"in flight", "secondary " + at(59*time.Minute), 0, "secondary", ""},
		{"older than a regenerate can run", "secondary " + at(time.Hour), 1, "", "secondary"},
		{"of the active key, in the future", "primary " + inTenYears, 1, "", "secondary"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			meta := map[string]string{MetaRotatedAt: at(31 * day), MetaRotationPending: tt.record}
			rp := decideRotation(batch("primary", meta, 31*day), sameKeys, p, now)
			if len(rp.Problems) != tt.problems || rp.Held != tt.held || rp.Regenerate != tt.regen {
				t.Fatalf("problems %q, held %q, regenerated %q", rp.Problems, rp.Held, rp.Regenerate)
			}
			if _, kept := rp.Meta[MetaRotationPending]; kept != (tt.held != "") {
				t.Fatalf("record kept %t", kept)
			}
		})
	}
}

// TestRecordNamingTheActiveKey: a record naming the key active already
// names never regenerates that key and never moves the period past the
// live version: dated no later than the version it completes it there
// (the version's time is the period's start); dated later, it is ignored.
func TestRecordNamingTheActiveKey(t *testing.T) {
	p := Rotation{Every: 30 * day, Grace: day, InFlight: time.Hour}
	tests := []struct {
		name      string
		record    string
		age       time.Duration
		completed string
		regen     string
		rotatedAt string
		problems  int
	}{
		{"dated before a young version: completes, nothing regenerated", "primary " + at(2*time.Hour), time.Hour, "primary", "", at(time.Hour), 0},
		{"dated before an old version: completes, the other key rotates", "primary " + at(32*day), 31 * day, "primary", "secondary", stamp(now), 0},
		{"dated after the version: ignored", "primary " + at(time.Hour), 31 * day, "", "secondary", stamp(now), 1},
		{"dated just now, the version young: ignored, the period kept", "primary " + at(time.Minute), 10 * day, "", "", at(10 * day), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			meta := map[string]string{MetaRotatedAt: at(tt.age), MetaRotationPending: tt.record}
			rp := decideRotation(batch("primary", meta, tt.age), sameKeys, p, now)
			if rp.Regenerate == "primary" || rp.Active[FieldActive] == "primary" && rp.Regenerate != "" {
				t.Fatalf("regenerated %q with primary active", rp.Regenerate)
			}
			if rp.Completed != tt.completed || rp.Regenerate != tt.regen || rp.Meta[MetaRotatedAt] != tt.rotatedAt || len(rp.Problems) != tt.problems {
				t.Fatalf("completed %q, regenerated %q, rotated-at %q, problems %q", rp.Completed, rp.Regenerate, rp.Meta[MetaRotatedAt], rp.Problems)
			}
		})
	}
}

// TestNothingRotatesWithoutTheVersionsTime: a store that cannot date the
// live version (KV v1, an answer without created_time, a version dated
// ahead of keysync's clock) regenerates nothing, and says why.
func TestNothingRotatesWithoutTheVersionsTime(t *testing.T) {
	p := Rotation{Every: time.Hour, Grace: time.Hour}
	old := map[string]string{MetaRotatedAt: epoch}
	kv1 := sinks.State{Exists: true, Data: secret.NewData(map[string]any{"primary": keyA, "secondary": keyB, FieldActive: "primary"})}
	tests := []struct {
		name string
		cur  sinks.State
		want string
	}{
		{"KV v1", kv1, "KV version 2"},
		{"no created_time", aged(batch("primary", old, 0), 0), "created_time"},
		{"a version dated ahead", aged(batch("primary", old, 0), -time.Hour), "ahead of keysync's clock"},
	}
	tests[1].cur.Created = time.Time{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rp := decideRotation(tt.cur, sameKeys, p, now)
			if rp.Regenerate != "" || len(rp.Problems) != 1 || !strings.Contains(rp.Problems[0], tt.want) {
				t.Fatalf("regenerated %q, problems %q", rp.Regenerate, rp.Problems)
			}
		})
	}
}

// TestNoRegenerationBeforeActiveIsPublished: an old secret that has never
// named its active key (rotation just turned on) is not rotated at once,
// whatever its age: consumers have not been told which key to use.
func TestNoRegenerationBeforeActiveIsPublished(t *testing.T) {
	p := Rotation{Every: time.Hour, Grace: time.Hour}
	cur := aged(v2(7, map[string]any{"primary": keyA, "secondary": keyB}, map[string]string{MetaRotatedAt: epoch}), 300*day)
	if rp := decideRotation(cur, sameKeys, p, now); rp.Regenerate != "" || rp.Active[FieldActive] != "primary" {
		t.Fatalf("regenerated %q, active %q", rp.Regenerate, rp.Active[FieldActive])
	}
}

// TestProblemsQuoteNoValue: a problem names the metadata key and times
// keysync formats itself, never the text it read.
func TestProblemsQuoteNoValue(t *testing.T) {
	meta := map[string]string{MetaRotatedAt: "2026-13-45 <script>", MetaRotationPending: "secondary\n<script>"}
	rp := decideRotation(batch("primary", meta, day), sameKeys, Rotation{Every: day, Grace: day}, now)
	if len(rp.Problems) != 2 {
		t.Fatalf("problems %q", rp.Problems)
	}
	for _, pr := range rp.Problems {
		if strings.Contains(pr, "script") || strings.Contains(pr, "\n") {
			t.Fatalf("a problem quotes what it read: %q", pr)
		}
	}
}

// TestInvalidStampIsRepairedAtOnce: the change that ignores an invalid
// stamp writes the version's time in its place (a metadata write, no new
// version), so that the next cycle finds valid metadata.
func TestInvalidStampIsRepairedAtOnce(t *testing.T) {
	d := desired(keyA, keyB)
	d.Rotate = &Rotation{Every: 30 * day, Grace: day}
	cur := batch("primary", managedMeta(d, map[string]string{MetaRotatedAt: inTenYears}), 10*day)
	ch := Calculate(cur, d, now)
	if ch.Action != RepairMetadata || ch.WritesData() || ch.Write.Metadata[MetaRotatedAt] != at(10*day) || len(ch.Rotation.Problems) != 1 {
		t.Fatalf("%v, rotated-at %q, problems %q", ch.Action, ch.Write.Metadata[MetaRotatedAt], ch.Rotation.Problems)
	}
}

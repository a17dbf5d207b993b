package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestJSONDurationsInSeconds: JSON logs carry durations as seconds (a
// float), nested ones included; text logs keep Go's readable form.
func TestJSONDurationsInSeconds(t *testing.T) {
	var buf bytes.Buffer
	log, err := newLogger(&buf, "json", "info")
	if err != nil {
		t.Fatal(err)
	}
	log.With("grace", 30*time.Second).Info("stopping", "retry_in", 1500*time.Millisecond, slog.Group("backoff", "max", 30*time.Minute), "count", 3)
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, buf.Bytes())
	}
	for key, want := range map[string]float64{"grace": 30, "retry_in": 1.5, "count": 3} {
		if v, ok := got[key].(float64); !ok || v != want {
			t.Errorf("%s = %#v, want %v", key, got[key], want)
		}
	}
	if v, _ := got["backoff"].(map[string]any); v == nil || v["max"] != float64(1800) {
		t.Errorf("backoff.max = %#v, want 1800", got["backoff"])
	}

	buf.Reset()
	if log, err = newLogger(&buf, "text", "info"); err != nil {
		t.Fatal(err)
	}
	log.Info("stopping", "grace", 30*time.Second, "retry_in", 1500*time.Millisecond)
	if s := buf.String(); !strings.Contains(s, "grace=30s") || !strings.Contains(s, "retry_in=1.5s") {
		t.Errorf("text log lost readable durations: %s", s)
	}
}

// journalFile makes a file and a JOURNAL_STREAM value naming it, as
// systemd sets when it connects stderr to the journal.
func journalFile(t *testing.T) (*os.File, string) {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "stream"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	return f, fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}

func readLines(t *testing.T, f *os.File) []string {
	t.Helper()
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// TestJournalPriorityPrefix: on the journal's stream each line starts with
// its level's syslog priority, in both formats and through With and
// WithGroup; anywhere else nothing is added.
func TestJournalPriorityPrefix(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			f, stream := journalFile(t)
			t.Setenv("JOURNAL_STREAM", stream)
			log, err := newLogger(f, format, "debug")
			if err != nil {
				t.Fatal(err)
			}
			log.Debug("d")
			log.Info("i")
			log.With("account", "a").Warn("w")
			log.WithGroup("g").Error("e", "err", "boom")
			lines := readLines(t, f)
			want := []string{"<7>", "<6>", "<4>", "<3>"}
			if len(lines) != len(want) {
				t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), strings.Join(lines, "\n"))
			}
			for i, p := range want {
				rest, ok := strings.CutPrefix(lines[i], p)
				if !ok || strings.HasPrefix(rest, "<") {
					t.Errorf("line %d = %q, want one prefix %s", i, lines[i], p)
				}
			}
		})
	}
}

// TestNoPrefixOffJournal: a stream other than the one JOURNAL_STREAM names
// (a child that inherited the variable, a terminal) gets plain lines.
func TestNoPrefixOffJournal(t *testing.T) {
	_, stream := journalFile(t)
	other, _ := journalFile(t)
	for _, env := range []string{stream, "", "garbage", "1:", ":2", "1:2:3", "-1:5"} {
		t.Run(env, func(t *testing.T) {
			if err := other.Truncate(0); err != nil {
				t.Fatal(err)
			}
			if _, err := other.Seek(0, 0); err != nil {
				t.Fatal(err)
			}
			t.Setenv("JOURNAL_STREAM", env)
			log, err := newLogger(other, "text", "info")
			if err != nil {
				t.Fatal(err)
			}
			log.Error("e")
			if l := readLines(t, other); len(l) != 1 || strings.HasPrefix(l[0], "<") {
				t.Errorf("got %q, want one line without a priority", l)
			}
		})
	}
}

// TestJournalPrefixConcurrent: lines logged at once from many goroutines
// each carry their own level's prefix, never another's.
func TestJournalPrefixConcurrent(t *testing.T) {
	f, stream := journalFile(t)
	t.Setenv("JOURNAL_STREAM", stream)
	log, err := newLogger(f, "json", "debug")
	if err != nil {
		t.Fatal(err)
	}
	levels := []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				l := levels[(g+i)%len(levels)]
				log.Log(context.Background(), l, "m", "level_was", l.String())
			}
		}(g)
	}
	wg.Wait()
	lines := readLines(t, f)
	if len(lines) != 400 {
		t.Fatalf("%d lines, want 400", len(lines))
	}
	for _, line := range lines {
		var rec struct {
			Level string `json:"level_was"`
		}
		i := strings.IndexByte(line, '{')
		if i < 0 || json.Unmarshal([]byte(line[i:]), &rec) != nil {
			t.Fatalf("bad line %q", line)
		}
		var l slog.Level
		_ = l.UnmarshalText([]byte(rec.Level))
		if line[:i] != priority(l) {
			t.Fatalf("line %q has prefix %q, want %q", line, line[:i], priority(l))
		}
	}
}

func TestPriority(t *testing.T) {
	tests := []struct {
		level slog.Level
		want  string
	}{
		{slog.LevelDebug - 4, "<7>"}, {slog.LevelDebug, "<7>"}, {slog.LevelInfo, "<6>"},
		{slog.LevelInfo + 2, "<6>"}, {slog.LevelWarn, "<4>"}, {slog.LevelError, "<3>"}, {slog.LevelError + 4, "<3>"},
	}
	for _, tt := range tests {
		if got := priority(tt.level); got != tt.want {
			t.Errorf("priority(%v) = %s, want %s", tt.level, got, tt.want)
		}
	}
}

func TestLinePrefixerMarksEveryLine(t *testing.T) {
	var b bytes.Buffer
	w := &linePrefixer{w: &b, prefix: "<3>"}
	for _, part := range []string{"keysync: invalid config c.toml:\n  a: bad\n", "  b: ", "worse\n", "  c\n"} {
		if n, err := w.Write([]byte(part)); err != nil || n != len(part) {
			t.Fatalf("Write(%q) = %d, %v", part, n, err)
		}
	}
	want := "<3>keysync: invalid config c.toml:\n<3>  a: bad\n<3>  b: worse\n<3>  c\n"
	if b.String() != want {
		t.Fatalf("got %q, want %q", b.String(), want)
	}
}

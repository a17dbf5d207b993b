package main

import (
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
)

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

package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
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

package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
)

// newLogger makes the logger for --log-format and --log-level, writing to w.
// When w is the journal's stream, each line starts with its syslog priority
// (<3> error ... <7> debug), which journald turns into the entry's PRIORITY,
// so `journalctl -p err` finds failures.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	var pw *prefixWriter
	if f, ok := w.(*os.File); ok && isJournal(f, os.Getenv("JOURNAL_STREAM")) {
		pw = &prefixWriter{w: w}
		w = pw
	}
	h, err := newHandler(w, format, &slog.HandlerOptions{Level: lvl})
	if err != nil {
		return nil, err
	}
	if pw != nil {
		h = priorityHandler{Handler: h, out: pw}
	}
	return slog.New(h), nil
}

func newHandler(w io.Writer, format string, opts *slog.HandlerOptions) (slog.Handler, error) {
	switch format {
	case "text":
		return slog.NewTextHandler(w, opts), nil
	case "json":
		opts.ReplaceAttr = durationSeconds
		return slog.NewJSONHandler(w, opts), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// durationSeconds turns a time.Duration into seconds as a float: JSON logs
// feed machines, and integer nanoseconds read as a bare, unitless number.
func durationSeconds(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.Float64(a.Key, a.Value.Duration().Seconds())
	}
	return a
}

// errorStream is w for messages printed outside the logger (a bad config's
// problems, a bad flag): when w is the journal, each line carries priority
// err, so `journalctl -p err` finds them even in a unit whose stdout, the
// report, must stay at its own priority.
func errorStream(w io.Writer) io.Writer {
	if f, ok := w.(*os.File); ok && isJournal(f, os.Getenv("JOURNAL_STREAM")) {
		return &linePrefixer{w: w, prefix: priority(slog.LevelError)}
	}
	return w
}

// linePrefixer puts prefix at the start of every line written through it,
// however the writes split the lines.
type linePrefixer struct {
	w       io.Writer
	prefix  string
	midLine bool
}

func (l *linePrefixer) Write(b []byte) (int, error) {
	out := make([]byte, 0, len(b)+len(l.prefix))
	for _, c := range b {
		if !l.midLine {
			out = append(out, l.prefix...)
		}
		out = append(out, c)
		l.midLine = c != '\n'
	}
	if _, err := l.w.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}

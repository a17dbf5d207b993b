package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
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

// isJournal says whether f is the stream systemd connected to the journal:
// JOURNAL_STREAM holds "device:inode" of that stream (systemd.exec(5)). A
// child that inherited the variable but writes elsewhere must not prefix.
func isJournal(f *os.File, journalStream string) bool {
	dev, ino, ok := strings.Cut(journalStream, ":")
	if !ok {
		return false
	}
	wantDev, err1 := strconv.ParseUint(dev, 10, 64)
	wantIno, err2 := strconv.ParseUint(ino, 10, 64)
	if err1 != nil || err2 != nil {
		return false
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return false
	}
	return uint64(st.Dev) == wantDev && st.Ino == wantIno //nolint:unconvert // Stat_t.Dev is not uint64 on every GOARCH
}

// priority is the syslog priority journald gives a line starting "<N>".
func priority(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "<3>" // err
	case l >= slog.LevelWarn:
		return "<4>" // warning
	case l >= slog.LevelInfo:
		return "<6>" // info
	}
	return "<7>" // debug
}

// prefixWriter puts prefix in front of each write. slog's handlers write a
// record in one call, so each log line gets it once.
type prefixWriter struct {
	mu     sync.Mutex // held across a record's Handle, by priorityHandler
	w      io.Writer
	prefix string
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	line := make([]byte, 0, len(p.prefix)+len(b))
	line = append(append(line, p.prefix...), b...)
	if _, err := p.w.Write(line); err != nil {
		return 0, err
	}
	return len(b), nil
}

// priorityHandler sets the prefix to the record's priority while the
// wrapped handler writes it.
type priorityHandler struct {
	slog.Handler
	out *prefixWriter
}

func (h priorityHandler) Handle(ctx context.Context, r slog.Record) error {
	h.out.mu.Lock()
	defer h.out.mu.Unlock()
	h.out.prefix = priority(r.Level)
	return h.Handler.Handle(ctx, r)
}

func (h priorityHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return priorityHandler{Handler: h.Handler.WithAttrs(attrs), out: h.out}
}

func (h priorityHandler) WithGroup(name string) slog.Handler {
	return priorityHandler{Handler: h.Handler.WithGroup(name), out: h.out}
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

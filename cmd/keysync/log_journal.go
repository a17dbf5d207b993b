package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

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

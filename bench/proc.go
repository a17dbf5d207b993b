package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// phase is a moment in a run: how long after the start, the CPU the
// process had used and its high-water mark then.
type phase struct {
	wall, cpu time.Duration
	hwmKiB    int64
	line      string
}

// discoveryWatch is a keysync process's stdout. keysync prints
// "discovery: N accounts, ..." once its discovery is done and before any
// account syncs; at that line discoveryWatch reads the process's CPU and
// VmHWM from /proc, and ends the process when asked to.
type discoveryWatch struct {
	mu    sync.Mutex
	stop  bool
	proc  *os.Process
	start time.Time
	buf   []byte
	got   phase
	seen  bool
}

// started hands over the process once it runs.
func (w *discoveryWatch) started(p *os.Process, at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.proc, w.start = p, at
}

// Write looks for the discovery line; everything else is dropped.
func (w *discoveryWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seen || w.proc == nil {
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			if len(w.buf) > 1<<16 {
				w.buf = w.buf[:0] // a long line is not the one looked for
			}
			return len(p), nil
		}
		line := string(w.buf[:i])
		w.buf = w.buf[i+1:]
		if strings.HasPrefix(line, "discovery: ") {
			w.mark(line)
			return len(p), nil
		}
	}
}

// mark records the moment; w.mu is held.
func (w *discoveryWatch) mark(line string) {
	w.seen = true
	w.got = phase{wall: time.Since(w.start), line: line}
	w.got.cpu, _ = procCPU(w.proc.Pid)
	w.got.hwmKiB, _ = procStatus(w.proc.Pid, "VmHWM:")
	if w.stop {
		_ = w.proc.Kill()
	}
}

func (w *discoveryWatch) result() phase {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.got
}

// clockTick is Linux's USER_HZ, the unit of /proc/<pid>/stat's times: 100
// on every architecture Go builds for.
const clockTick = 10 * time.Millisecond

// procCPU is a process's user + system CPU so far, from /proc/<pid>/stat
// (fields 14 and 15, counted after the command name's closing paren).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 > len(b) {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+2:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	user, err1 := strconv.ParseInt(f[11], 10, 64)
	sys, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q, stime %q", pid, f[11], f[12])
	}
	return time.Duration(user+sys) * clockTick, nil
}

// procCPUOrZero is procCPU, 0 when /proc cannot say.
func procCPUOrZero(pid int) time.Duration {
	d, _ := procCPU(pid)
	return d
}

// loadAvg is /proc/loadavg's first three fields: the machine's load.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

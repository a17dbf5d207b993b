package testenv

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// helperEnv carries, to a test binary that AttackFrom or ProbeFrom runs
// again, the role it is to play (a helperJob in JSON); RunHelper reads it.
const helperEnv = "KEYSYNC_TEST_HELPER"

// helperJob is what a helper process does: run Attacks against Addr
// until its stdin closes, or send Probes probes to it.
type helperJob struct {
	Addr    string
	Attacks []ProcessAttack `json:",omitempty"`
	Probes  int             `json:",omitempty"`
}

// ProcessAttack is N attackers of one kind, run by AttackFrom: "silent"
// (Silent) or "halfopen" (HalfOpen(Path)).
type ProcessAttack struct {
	Kind string
	Path string `json:",omitempty"`
	N    int
}

func (a ProcessAttack) attack() (Attack, error) {
	switch a.Kind {
	case "silent":
		return Silent, nil
	case "halfopen":
		return HalfOpen(a.Path), nil
	}
	return nil, fmt.Errorf("unknown attack %q", a.Kind)
}

// ProbeResult is one probe of ProbeFrom: its path, the answer's status
// (0 with Err when there was none) and how long it took, from connecting
// to the end of the answer.
type ProbeResult struct {
	Path   string
	Status int
	Err    string `json:",omitempty"`
	Took   time.Duration
}

// RunHelper makes the test binary, when called from a test package's
// init, the helper process AttackFrom or ProbeFrom started, and exits
// once it has done its job; in the test binary itself it does nothing. A listen port
// must tell a kubelet from attackers by what each sends, and a kubelet is
// a process of its own: attackers in the test's process could starve a
// probe of the CPU between its connect and its request.
func RunHelper() {
	spec, ok := os.LookupEnv(helperEnv)
	if !ok {
		return
	}
	var job helperJob
	if err := json.Unmarshal([]byte(spec), &job); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if job.Probes > 0 {
		os.Exit(probeJob(job))
	}
	os.Exit(attackJob(job))
}

// attackJob runs the job's attacks until stdin closes, then prints how
// many connections they opened.
func attackJob(job helperJob) int {
	var counts []*atomic.Int64
	var stops []func()
	for _, a := range job.Attacks {
		attack, err := a.attack()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		opened, stop := RunAttack(a.N, job.Addr, attack)
		counts, stops = append(counts, opened), append(stops, stop)
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	var total int64
	for i, stop := range stops {
		stop()
		total += counts[i].Load()
	}
	fmt.Println(total)
	return 0
}

// probeJob sends the job's probes, /healthz and /readyz in turn, one
// after another, and prints each result as a line of JSON.
func probeJob(job helperJob) int {
	enc := json.NewEncoder(os.Stdout)
	for i := range job.Probes {
		r := ProbeResult{Path: []string{"/healthz", "/readyz"}[i%2]}
		start := time.Now()
		code, err := Probe(job.Addr, r.Path, probeProcessBound)
		r.Status, r.Took = code, time.Since(start)
		if err != nil {
			r.Err = err.Error()
		}
		if err := enc.Encode(r); err != nil {
			return 1
		}
	}
	return 0
}

// probeProcessBound ends a probe of ProbeFrom that would hang; the test
// decides what is too slow.
const probeProcessBound = 30 * time.Second

// helper is the test binary, run again as the helper process of job.
func helper(t testing.TB, job helperJob) *exec.Cmd {
	t.Helper()
	spec, err := json.Marshal(job)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0]) //nolint:gosec // the test binary itself, run again
	cmd.Env = append(os.Environ(), helperEnv+"="+string(spec))
	cmd.Stderr = os.Stderr
	return cmd
}

// AttackFrom runs attacks against addr from a process of its own (the
// test binary again: the test package's init must call RunHelper), each
// attacker opening a new connection as soon as its last one is closed.
// stop ends them and returns how many connections they opened; the
// process is killed at the end of the test if stop was not called.
func AttackFrom(t testing.TB, addr string, attacks ...ProcessAttack) (stop func() int64) {
	t.Helper()
	cmd := helper(t, helperJob{Addr: addr, Attacks: attacks})
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return func() int64 {
		t.Helper()
		_ = in.Close()
		if err := cmd.Wait(); err != nil {
			t.Fatalf("the attacking process: %v", err)
		}
		var n int64
		if _, err := fmt.Sscan(out.String(), &n); err != nil {
			t.Fatalf("the attacking process printed %q: %v", out.String(), err)
		}
		return n
	}
}

// ProbeFrom sends n probes of addr, /healthz and /readyz in turn, one
// after another, from a process of its own, as a kubelet does (the test
// package's init must call RunHelper).
func ProbeFrom(t testing.TB, addr string, n int) []ProbeResult {
	t.Helper()
	cmd := helper(t, helperJob{Addr: addr, Probes: n})
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("the probing process: %v", err)
	}
	var results []ProbeResult
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		var r ProbeResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("the probing process printed %q: %v", sc.Text(), err)
		}
		results = append(results, r)
	}
	if len(results) != n {
		t.Fatalf("the probing process made %d probes, want %d", len(results), n)
	}
	return results
}

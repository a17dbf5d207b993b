package e2e

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keysync/keysync/armemu"
)

var soak = flag.Duration("soak", 60*time.Second, "how long TestChaosSoak injects faults (go test ./e2e -run Soak -args -soak 10m)")

// TestChaosSoak: a daemon with one-second schedules runs while a fifth of
// all ARM requests fail with faults of every kind, keys rotate at random,
// and Vault is sealed and unsealed once. When the faults stop, every
// account converges to the truth within two ticks, no KV version ever held
// a wrong key, no key reached the output, and RSS stayed flat.
func TestChaosSoak(t *testing.T) {
	var accts []account
	for i := range 8 {
		accts = append(accts, newAccountIn(t, fmt.Sprintf("50a50a50-0000-0000-0000-00000000000%d", i%2)))
	}
	d := startDaemon(t, func(addr string) string {
		cfg := daemonConfig(addr, "", accts...)
		cfg = strings.Replace(cfg, `backoff_base = "1s"`, `backoff_base = "200ms"`, 1)
		cfg = strings.Replace(cfg, `backoff_max = "4s"`, `backoff_max = "1s"`, 1)
		return strings.Replace(cfg, `timeout = "3s"`, `timeout = "1s"`, 1)
	})
	d.waitFor("the first syncs", 10*time.Second, func() bool {
		for _, a := range accts {
			if readV2(t, a.path) == nil {
				return false
			}
		}
		return true
	})

	emu.SetChaos(0.2, armemu.FaultKinds(), uint64(time.Now().UnixNano()))
	defer emu.SetChaos(0, nil, 0)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var rss []int
	wg.Add(2)
	go func() { // rotate keys at random
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(300+rand.IntN(900)) * time.Millisecond):
				a := accts[rand.IntN(len(accts))]
				emu.Regenerate(a.res(), []string{"primary", "secondary"}[rand.IntN(2)])
			}
		}
	}()
	go func() { // sample the daemon's RSS
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Second):
				if kb := rssKiB(d.cmd.Process.Pid); kb > 0 {
					rss = append(rss, kb)
				}
			}
		}
	}()
	time.Sleep(*soak / 3)
	if err := vault.Seal(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	if err := vault.Unseal(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(*soak - *soak/3 - 3*time.Second)
	close(stop)
	wg.Wait()
	emu.SetChaos(0, nil, 0)

	calm := time.Now()
	d.waitFor("every account to converge", 10*time.Second, func() bool {
		for _, a := range accts {
			got := readV2(t, a.path)
			p, s := a.keys(t)
			if got == nil || got.data["primary"] != p || got.data["secondary"] != s {
				return false
			}
		}
		return true
	})
	// Two one-second ticks; a retry pending from the last fault waits at
	// most backoff_max (1 s) and its request at most the 1 s timeout.
	if took := time.Since(calm); took > 2*time.Second+time.Second {
		t.Errorf("converged %v after the faults stopped, more than two ticks", took.Round(time.Millisecond))
	}
	assertNoWrongWrites(t, accts...)
	assertFlat(t, rss)
	t.Logf("soak %v: %d ARM requests, RSS samples %v KiB", *soak, len(emu.RequestLog()), rss)
}

// assertFlat fails when the second half of the RSS samples grew well past
// the first (a leak), allowing for the GC's sawtooth.
func assertFlat(t *testing.T, kib []int) {
	t.Helper()
	if len(kib) < 6 {
		t.Fatalf("only %d RSS samples", len(kib))
	}
	warm := kib[len(kib)/4:] // the first quarter warms up
	half := len(warm) / 2
	peak := func(xs []int) int {
		m := 0
		for _, x := range xs {
			m = max(m, x)
		}
		return m
	}
	first, second := peak(warm[:half]), peak(warm[half:])
	if second > first+first/4 && second-first > 4096 {
		t.Errorf("RSS grew from %d KiB to %d KiB during the soak", first, second)
	}
}

// rssKiB reads a process's resident set size from /proc.
func rssKiB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return n
		}
	}
	return 0
}

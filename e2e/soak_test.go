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

	"github.com/keysync/keysync/internal/armemu"
)

var (
	soak     = flag.Duration("soak", 60*time.Second, "how long TestChaosSoak injects faults (go test ./e2e -run Soak -args -soak 10m)")
	soakSeed = flag.Uint64("seed", 0, "TestChaosSoak's random seed, to replay a failure (go test ./e2e -run Soak -args -seed N); 0 takes one from the clock")
)

// seed is -seed, or one from the clock; the test logs it either way.
func seed(t *testing.T) uint64 {
	s := *soakSeed
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay: go test ./e2e -run TestChaosSoak -args -seed %d -soak %v)", s, s, *soak)
	return s
}

// TestChaosSoak: a daemon with one-second schedules runs while a fifth of
// its ARM requests fail with faults of every kind, keys rotate at random,
// and its Vault is sealed and unsealed once. When the faults stop, every
// account holds the truth after two more finished syncs (the one in
// flight may have read a key since rotated; the next starts after the
// calm), no KV version ever held a wrong key, no key reached the output,
// and RSS stayed flat.
func TestChaosSoak(t *testing.T) {
	// Its faults hit only its own subscriptions' accounts, and it seals a
	// Vault of its own: for its minutes, the other tests go on.
	shared(t)
	ownVault(t)
	subs := []string{fmt.Sprintf("50a50a50-0000-0000-0000-%012d", seq.Add(1)), fmt.Sprintf("50a50a50-0000-0000-0000-%012d", seq.Add(1))}
	var accts []account
	for i := range 8 {
		accts = append(accts, newAccountIn(t, subs[i%2]))
	}
	d := startDaemon(t, func(addr string) string {
		cfg := daemonConfig(addr, "", accts...)
		cfg = strings.Replace(cfg, `backoff_base = "1s"`, `backoff_base = "200ms"`, 1)
		cfg = strings.Replace(cfg, `backoff_max = "4s"`, `backoff_max = "1s"`, 1)
		return withAzureTimeout(cfg, hangTimeout) // its hang faults end at the timeout
	})
	d.waitFor("the first syncs", 10*time.Second, func() bool {
		for _, a := range accts {
			if readV2(t, a.path) == nil {
				return false
			}
		}
		return true
	})
	rss := chaos(t, d, subs, accts, seed(t))

	calm := time.Now()
	d.waitCycles(2, waitFloor, accts...)
	t.Logf("two more syncs of every account %v after the faults stopped", time.Since(calm).Round(time.Millisecond))
	assertTruth(t, accts...)
	assertNoWrongWrites(t, accts...)
	assertFlat(t, rss)
	n := 0
	for _, a := range accts {
		n += a.requests()
	}
	t.Logf("soak %v: %d ARM requests, RSS samples %v KiB", *soak, n, rss)
}

// chaos is the soak's faulty phase: for -soak, a fifth of the ARM
// requests to subs fail and keys rotate at random, both drawn from seed,
// and Vault is sealed once. It returns the daemon's RSS, sampled every
// second.
func chaos(t *testing.T, d *daemonProc, subs []string, accts []account, seed uint64) []int {
	emu.SetChaosIn(subs, 0.2, armemu.FaultKinds(), seed)
	defer emu.SetChaos(0, nil, 0)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var rss []int
	wg.Add(2)
	go func() {
		defer wg.Done()
		rotateAtRandom(t, stop, rand.New(rand.NewPCG(seed, seed+1)), accts)
	}()
	go func() {
		defer wg.Done()
		rss = sampleRSS(stop, d.cmd.Process.Pid)
	}()
	start := time.Now()
	d.runFor(*soak / 3)
	sealOnce(t, d, accts)
	d.runFor(max(*soak-time.Since(start), 0))
	close(stop)
	wg.Wait()
	return rss
}

// sealOnce seals Vault until the daemon has seen it and every account has
// met it, then unseals it.
func sealOnce(t *testing.T, d *daemonProc, accts []account) {
	t.Helper()
	d.waitFor("the daemon to see Vault up", 10*time.Second, func() bool { return d.vaultUp() == 1 })
	v := vaultOf(t)
	if err := v.Seal(); err != nil {
		t.Fatal(err)
	}
	d.waitFor("the daemon to see Vault sealed", 10*time.Second, func() bool { return d.vaultUp() == 0 })
	d.waitCycles(1, 20*time.Second, accts...)
	if err := v.Unseal(); err != nil {
		t.Fatal(err)
	}
}

// rotateAtRandom regenerates a random key of a random account every 0.3
// to 1.2 s until stop closes.
func rotateAtRandom(t *testing.T, stop <-chan struct{}, rng *rand.Rand, accts []account) {
	for {
		select {
		case <-stop:
			return
		case <-time.After(time.Duration(300+rng.IntN(900)) * time.Millisecond):
			a := accts[rng.IntN(len(accts))]
			if _, err := emu.Regenerate(a.res(), []string{"primary", "secondary"}[rng.IntN(2)]); err != nil {
				t.Error(err)
			}
		}
	}
}

// sampleRSS reads pid's RSS every second until stop closes.
func sampleRSS(stop <-chan struct{}, pid int) []int {
	var rss []int
	for {
		select {
		case <-stop:
			return rss
		case <-time.After(time.Second):
			if kb := rssKiB(pid); kb > 0 {
				rss = append(rss, kb)
			}
		}
	}
}

// vaultUp asks /readyz, which probes Vault afresh, then reads the answer
// from the keysync_vault_up gauge it sets.
func (d *daemonProc) vaultUp() float64 {
	d.get("/readyz")
	return d.metric("keysync_vault_up")
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

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/keysync/keysync/internal/armemu"
	"github.com/keysync/keysync/internal/testenv"
)

// The events case (issues #14 and #25): a daemon on an hourly schedule
// with the Event Grid webhook on, fed by the emulator's own deliveries. A
// burst of regenerates, one per account, must each reach Vault within 2 s
// (p99) with one sync per account, and the same regenerates one at a time
// within 150 ms (p99); 20 regenerates of one account
// at once must cost at most 2 listKeys; then a flood of irrelevant and
// duplicate events, posted straight to the webhook at 10,000 a minute,
// must make no ARM call and leave RSS flat.

const eventsTarget = "p99 regenerate -> new key in Vault <= 150 ms one at a time, <= 2 s in a burst of one per account, " +
	"at most one sync per account per burst; " +
	"a burst of 20 events for one account <= 2 listKeys; " +
	"10,000 irrelevant or duplicate events a minute: zero ARM calls, flat RSS"

// eventsResult is what the events case measured.
type eventsResult struct {
	p50, p99, worst time.Duration
	burstSyncs      int // syncs during the burst, all accounts
	maxSyncs        int // most syncs of one account during the burst
	burstARM        int // listKeys calls during the burst
	// burstQueued is the events that queued a sync, burstDropped those
	// dropped as not changes (keysync's own listKeys): a second sync of
	// an account would have been queued first.
	burstQueued, burstDropped int
	one                       oneBurst
	// seq is the latency of each account's regenerate one at a time, sorted.
	seq         []time.Duration
	floodEvents int
	floodTook   time.Duration
	floodARM    int
	rss         []int64 // VmRSS samples through the flood, KiB
}

// eventsSecretValue is the webhook's shared secret in the benchmark.
const eventsSecretValue = "bench-events-shared-secret-0123456789"

// runEvents runs the events case.
func (e *env) runEvents(c benchCase) (eventsResult, error) {
	ksPaths, ksCfg, addr, err := e.eventsConfig(c)
	if err != nil {
		return eventsResult{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.keysync, "--config", ksCfg, "--log-level", "error")
	cmd.Env = e.childEnv()
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		return eventsResult{}, err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if err := waitSyncs(ctx, addr, c.accounts, 200*time.Millisecond); err != nil {
		return eventsResult{}, fmt.Errorf("first cycle: %w", err)
	}
	name := fmt.Sprintf("bench-events-%d", caseSeq)
	err = e.emu.Subscribe(ctx, armemu.EventSubscription{Name: name, Endpoint: "http://" + addr + "/events/eventgrid",
		Headers: map[string]string{"X-Bench-Secret": eventsSecretValue}, MaxEventsPerBatch: 10, RetryBase: 100 * time.Millisecond})
	if err != nil {
		return eventsResult{}, err
	}
	defer e.emu.Unsubscribe(name)
	var r eventsResult
	if err := e.eventsBurst(ctx, c, addr, name, ksPaths, &r); err != nil {
		return r, err
	}
	if r.seq, err = e.eventsOneAtATime(ctx, ksPaths, benchResources(c)); err != nil {
		return r, err
	}
	if r.one, err = e.eventsOneAccount(ctx, addr, name, ksPaths[0], benchResources(c)[0]); err != nil {
		return r, err
	}
	return r, e.eventsFlood(ctx, c, addr, cmd.Process.Pid, &r)
}

// eventsConfig makes the case's accounts and the daemon's config: an
// hourly schedule, a listen address, the webhook with a shared secret.
func (e *env) eventsConfig(c benchCase) (ksPaths []string, ksCfg, addr string, err error) {
	if ksPaths, _, ksCfg, _, err = e.configs(c); err != nil {
		return nil, "", "", err
	}
	if addr, err = testenv.FreeAddr(); err != nil {
		return nil, "", "", err
	}
	secretFile := filepath.Join(e.dir, "events-secret")
	if err := os.WriteFile(secretFile, []byte(eventsSecretValue+"\n"), 0o600); err != nil {
		return nil, "", "", err
	}
	top := fmt.Sprintf("schedule = \"@every 1h\"\nlisten = %q\nevents.enabled = true\nevents.secret_file = %q\nevents.secret_header = \"X-Bench-Secret\"\n", addr, secretFile)
	return ksPaths, ksCfg, addr, prependTop(ksCfg, top)
}

// benchResources are the case's accounts as the emulator names them
// (configs makes them so).
func benchResources(c benchCase) []armemu.Resource {
	out := make([]armemu.Resource, c.accounts)
	for i := range out {
		out[i] = armemu.Resource{Subscription: fmt.Sprintf("%08d-0000-4000-8000-%012d", caseSeq, i%c.subs), ResourceGroup: "bench", Name: fmt.Sprintf("c%dacct%d", caseSeq, i)}
	}
	return out
}

// eventsBurst regenerates one key of every account and times each until
// Vault holds the new key; then it counts the syncs and listKeys calls the
// burst caused, once the listKeys events of those syncs are delivered too.
func (e *env) eventsBurst(ctx context.Context, c benchCase, addr, sub string, paths []string, r *eventsResult) error {
	res := benchResources(c)
	before, err := perAccountSyncs(ctx, addr)
	if err != nil {
		return err
	}
	arm0 := e.armCalls(res)
	want, at := make([]string, len(res)), make([]time.Time, len(res))
	for i, a := range res {
		acct, err := e.emu.Regenerate(a, "primary")
		if err != nil {
			return err
		}
		want[i], at[i] = acct.Keys["primary"], time.Now()
	}
	lat, err := e.waitKeys(ctx, paths, want, at)
	if err != nil {
		return err
	}
	slices.Sort(lat)
	r.p50, r.p99, r.worst = lat[len(lat)/2], lat[(len(lat)*99+99)/100-1], lat[len(lat)-1]
	// The syncs' own listKeys events come after the regenerates': once
	// both are answered, a second sync of any account would show here.
	if err := e.waitDelivered(ctx, sub, 2*len(res)); err != nil {
		return err
	}
	after, err := perAccountSyncs(ctx, addr)
	if err != nil {
		return err
	}
	for k, v := range after {
		n := v - before[k]
		r.burstSyncs += n
		r.maxSyncs = max(r.maxSyncs, n)
	}
	r.burstARM = e.armCalls(res) - arm0
	return scrape(ctx, addr, func(name string, v float64) {
		switch name {
		case `keysync_events_total{outcome="queued",schema="eventgrid"}`:
			r.burstQueued = int(v)
		case `keysync_events_total{outcome="irrelevant",schema="eventgrid"}`:
			r.burstDropped = int(v)
		}
	})
}

// waitKeys polls Vault until each path holds its wanted primary key, and
// returns how long after at[i] Vault wrote it: the version's created_time
// (Vault runs on this machine's clock), so that the poll's own pace,
// 100 reads a round, adds nothing to the figure.
func (e *env) waitKeys(ctx context.Context, paths, want []string, at []time.Time) ([]time.Duration, error) {
	lat := make([]time.Duration, len(paths))
	left := len(paths)
	for left > 0 {
		for i, p := range paths {
			if lat[i] > 0 {
				continue
			}
			s, err := e.vault.Client.KVv2("secret").Get(ctx, p)
			if err == nil && s.Data["primary"] == want[i] {
				lat[i] = max(s.VersionMetadata.CreatedTime.Sub(at[i]), time.Nanosecond)
				left--
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%d new keys not in Vault: %w", left, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return lat, nil
}

// waitDelivered waits until the subscription's deliveries answered 200
// hold n events.
func (e *env) waitDelivered(ctx context.Context, sub string, n int) error {
	for {
		got := deliveredEvents(e.emu.Emulator, sub)
		if got >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d events delivered: %w", got, n, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (e *env) armCalls(res []armemu.Resource) int {
	n := 0
	for _, a := range res {
		n += e.emu.Requests(a)
	}
	return n
}

// perAccountSyncs is keysync_sync_total summed by account.
func perAccountSyncs(ctx context.Context, addr string) (map[string]int, error) {
	out := map[string]int{}
	err := scrape(ctx, addr, func(name string, v float64) {
		if rest, ok := strings.CutPrefix(name, `keysync_sync_total{account="`); ok {
			out[rest[:strings.IndexByte(rest, '"')]] += int(v)
		}
	})
	return out, err
}

// postEvents delivers events to the webhook as Event Grid does.
func postEvents(ctx context.Context, addr string, events []map[string]any) error {
	body, err := json.Marshal(events)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/events/eventgrid", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Bench-Secret", eventsSecretValue)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("webhook answered %d: %s", resp.StatusCode, b)
	}
	return nil
}

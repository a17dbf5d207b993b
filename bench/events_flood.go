package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keysync/keysync/internal/armemu"
)

// floodBatch is the events of one delivery in the flood.
const floodBatch = 100

// eventsFlood posts c.floodEvents events over c.floodFor, in batches of
// floodBatch: a third redeliveries of events already taken (same ids as
// seed events posted and synced first), a third keysync's own listKeys
// operations on its accounts, a third regenerates of resources it does not
// manage. It samples the daemon's VmRSS after each batch and counts ARM
// calls.
func (e *env) eventsFlood(ctx context.Context, c benchCase, addr string, pid int, r *eventsResult) error {
	res := benchResources(c)
	ids, err := e.seedEvents(ctx, addr, res)
	if err != nil {
		return err
	}
	arm0 := e.armCalls(res)
	batches := c.floodEvents / floodBatch
	every := c.floodFor / time.Duration(batches)
	start := time.Now()
	for b := range batches {
		evs := make([]map[string]any, floodBatch)
		for i := range evs {
			n := b*floodBatch + i
			a := res[n%len(res)]
			switch n % 3 {
			case 0:
				evs[i] = floodEvent(ids[n%len(ids)], a, "Microsoft.Batch/batchAccounts/regenerateKeys/action")
			case 1:
				evs[i] = floodEvent(fmt.Sprintf("flood-list-%d", n), a, "Microsoft.Batch/batchAccounts/listKeys/action")
			default:
				a.Name = fmt.Sprintf("unmanaged%d", n)
				evs[i] = floodEvent(fmt.Sprintf("flood-unmanaged-%d", n), a, "Microsoft.Batch/batchAccounts/regenerateKeys/action")
			}
		}
		if err := postEvents(ctx, addr, evs); err != nil {
			return fmt.Errorf("flood batch %d: %w", b, err)
		}
		kb, err := procStatus(pid, "VmRSS:")
		if err != nil {
			return err
		}
		r.rss = append(r.rss, kb)
		time.Sleep(time.Until(start.Add(time.Duration(b+1) * every)))
	}
	r.floodEvents, r.floodTook = batches*floodBatch, time.Since(start)
	r.floodARM = e.armCalls(res) - arm0
	return nil
}

// seedEvents posts one regenerate event per account and waits for the
// syncs they cause; the flood replays their ids.
func (e *env) seedEvents(ctx context.Context, addr string, res []armemu.Resource) ([]string, error) {
	done, err := syncsDone(ctx, addr)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(res))
	evs := make([]map[string]any, len(res))
	for i, a := range res {
		ids[i] = fmt.Sprintf("seed-%d-%d", caseSeq, i)
		evs[i] = floodEvent(ids[i], a, "Microsoft.Batch/batchAccounts/regenerateKeys/action")
	}
	for chunk := range slices.Chunk(evs, floodBatch) {
		if err := postEvents(ctx, addr, chunk); err != nil {
			return nil, fmt.Errorf("seed events: %w", err)
		}
	}
	return ids, waitSyncs(ctx, addr, done+len(res), 100*time.Millisecond)
}

// floodEvent is an Event Grid schema event of op on a.
func floodEvent(id string, a armemu.Resource, op string) map[string]any {
	uri := fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Batch/batchAccounts/%s", a.Subscription, a.ResourceGroup, a.Name)
	return map[string]any{"id": id, "eventType": "Microsoft.Resources.ResourceActionSuccess", "subject": uri,
		"eventTime": time.Now().UTC().Format(time.RFC3339Nano), "dataVersion": "2", "metadataVersion": "1", "topic": "/subscriptions/" + a.Subscription,
		"data": map[string]any{"operationName": op, "status": "Succeeded", "resourceUri": uri, "subscriptionId": a.Subscription}}
}

// renderEvents writes the events case.
func renderEvents(b *strings.Builder, r caseResult) {
	ev := r.events
	rss := ev.rss
	first, last, peak := rss[0], rss[len(rss)-1], rss[0]
	for _, v := range rss {
		peak = max(peak, v)
	}
	fmt.Fprintf(b, ", as a daemon (`@every 1h`) with the Event Grid webhook, fed by the emulator's deliveries (batches of up to 10)\n\n"+
		"Target: %s.\n\n| metric | keysync daemon |\n|---|---|\n", r.c.target)
	rows := [][2]string{
		{fmt.Sprintf("regenerate -> new key in Vault, %d one at a time: p50, p99, worst", len(ev.seq)), pcts(ev.seq)},
		{fmt.Sprintf("regenerate -> new key in Vault, a burst of %d (one per account): p50, p99, worst", r.c.accounts), fmt.Sprintf("%s, %s, %s", dur(ev.p50), dur(ev.p99), dur(ev.worst))},
		{fmt.Sprintf("syncs in the burst (%d accounts), most of one account", r.c.accounts), fmt.Sprintf("%d, %d", ev.burstSyncs, ev.maxSyncs)},
		{"listKeys calls in the burst", fmt.Sprint(ev.burstARM)},
		{"burst events that queued a sync, dropped as not changes (keysync's own listKeys)", fmt.Sprintf("%d, %d", ev.burstQueued, ev.burstDropped)},
		{fmt.Sprintf("%d regenerates of one account at once: events that queued a sync, syncs, listKeys (at the emulator)", ev.one.events),
			fmt.Sprintf("%d, %d, %d", ev.one.queued, ev.one.syncs, ev.one.listKeys)},
		{"the same burst: first regenerate -> last key in Vault", dur(ev.one.took)},
		{"flood: events posted, over", fmt.Sprintf("%d, %s", ev.floodEvents, dur(ev.floodTook))},
		{"flood: ARM calls", fmt.Sprint(ev.floodARM)},
		{fmt.Sprintf("flood: VmRSS first, last, largest of %d samples", len(rss)), fmt.Sprintf("%s, %s, %s", mib(first), mib(last), mib(peak))},
	}
	for _, rw := range rows {
		row(b, rw[0], rw[1])
	}
}

// pcts is the p50, p99 and worst of sorted latencies.
func pcts(lat []time.Duration) string {
	if len(lat) == 0 {
		return "-"
	}
	n := len(lat)
	return fmt.Sprintf("%s, %s, %s", dur(lat[n/2]), dur(lat[(n*99+99)/100-1]), dur(lat[n-1]))
}

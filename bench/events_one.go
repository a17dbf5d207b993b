package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/keysync/keysync/internal/armemu"
)

// oneBurstEvents is how many regenerates of one account the case makes at
// once (issue #25: a burst of 20 events for one account).
const oneBurstEvents = 20

// eventsOneAtATime regenerates one key of each account in turn, the next
// once Vault holds the key before: the latency of an event that waits for
// no other, against which issue #25 sets 150 ms (p99). It starts a
// second after the burst, past the window in which a second targeted
// sync of an account waits.
func (e *env) eventsOneAtATime(ctx context.Context, paths []string, res []armemu.Resource) ([]time.Duration, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(time.Second):
	}
	lat := make([]time.Duration, 0, len(res))
	for i, a := range res {
		acct, err := e.emu.Regenerate(a, "primary")
		if err != nil {
			return nil, err
		}
		l, err := e.waitKeys(ctx, paths[i:i+1], []string{acct.Keys["primary"]}, []time.Time{time.Now()})
		if err != nil {
			return nil, err
		}
		lat = append(lat, l[0])
	}
	slices.Sort(lat)
	return lat, nil
}

// oneBurst is what a burst of regenerates of one account cost.
type oneBurst struct {
	events   int           // regenerate events delivered
	queued   int           // of them, those that queued a sync (the leading and the trailing run)
	syncs    int           // syncs they caused
	listKeys int           // ARM requests for the account, counted at the emulator
	took     time.Duration // from the first regenerate until Vault held the last key
}

// eventsOneAccount regenerates one key of a oneBurstEvents times at once
// and counts, at the emulator, the listKeys calls the burst caused: once
// every event is answered and every sync the answers queued has finished,
// no later sync can come of it.
func (e *env) eventsOneAccount(ctx context.Context, addr, sub, path string, a armemu.Resource) (oneBurst, error) {
	r := oneBurst{events: oneBurstEvents}
	syncs0, err := syncsDone(ctx, addr)
	if err != nil {
		return r, err
	}
	queued0, err := queuedEvents(ctx, addr)
	if err != nil {
		return r, err
	}
	arm0, delivered0 := e.emu.Requests(a), deliveredEvents(e.emu.Emulator, sub)
	start := time.Now()
	var last string
	for range oneBurstEvents {
		acct, err := e.emu.Regenerate(a, "primary")
		if err != nil {
			return r, err
		}
		last = acct.Keys["primary"]
	}
	lat, err := e.waitKeys(ctx, []string{path}, []string{last}, []time.Time{start})
	if err != nil {
		return r, err
	}
	r.took = lat[0]
	// The regenerates' events come before the syncs' own listKeys events.
	if err := e.waitDelivered(ctx, sub, delivered0+oneBurstEvents); err != nil {
		return r, err
	}
	if r.queued, r.syncs, err = waitQueuedSyncs(ctx, addr, queued0, syncs0); err != nil {
		return r, err
	}
	r.listKeys = e.emu.Requests(a) - arm0
	return r, nil
}

// waitQueuedSyncs waits until as many syncs have finished since syncs0 as
// events queued one since queued0, and returns both counts.
func waitQueuedSyncs(ctx context.Context, addr string, queued0, syncs0 int) (queued, syncs int, err error) {
	for {
		q, qerr := queuedEvents(ctx, addr)
		s, serr := syncsDone(ctx, addr)
		if qerr == nil && serr == nil && s-syncs0 >= q-queued0 {
			return q - queued0, s - syncs0, nil
		}
		select {
		case <-ctx.Done():
			return 0, 0, fmt.Errorf("%d syncs for %d queued: %w", s-syncs0, q-queued0, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// queuedEvents is keysync_events_total of the events that queued a sync.
func queuedEvents(ctx context.Context, addr string) (int, error) {
	n := 0
	err := scrape(ctx, addr, func(name string, v float64) {
		if name == `keysync_events_total{outcome="queued",schema="eventgrid"}` {
			n = int(v)
		}
	})
	return n, err
}

// deliveredEvents is how many events the subscription's deliveries
// answered 200 hold.
func deliveredEvents(emu *armemu.Emulator, sub string) int {
	n := 0
	for _, d := range emu.Deliveries(sub) {
		if d.Status == http.StatusOK {
			n += len(d.EventIDs)
		}
	}
	return n
}

package server

import (
	"errors"
	"net"
	"slices"
	"time"
)

// accepting accepts connections and places each at once (arrive); it
// hands the listener's errors to Accept, whose server retries after a
// temporary one, and ends once the listener is closed.
func (p *connPool) accepting() {
	for {
		raw, err := p.Listener.Accept()
		if err == nil {
			p.arrive(raw)
			continue
		}
		select {
		case p.failed <- err:
		case <-p.done:
			return
		}
		if errors.Is(err, net.ErrClosed) {
			return
		}
	}
}

// arrive gives a new connection a slot, free or evicted for it, or a
// place among those waiting for one; while some wait, it waits behind
// them.
func (p *connPool) arrive(raw net.Conn) {
	c := &poolConn{Conn: raw, pool: p, opened: time.Now()}
	if p.queueFull() {
		// Some wait only because the goroutine that gives them their
		// slots, or Accept, is behind (a busy machine, a reconnecting
		// flood): give them the free slots first, waiting on Accept,
		// so that the kernel's backlog queues c meanwhile rather than
		// c being refused while slots are free.
		p.admitWaiting()
	}
	victim, placed, dropped := p.enter(c)
	p.evict(victim)
	p.refuse(dropped)
	if placed {
		p.deliver(c)
		return
	}
	p.signal()
}

// queueFull reports whether as many wait for a slot as may.
func (p *connPool) queueFull() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queue) >= waitingPerSlot*p.max
}

// enter places c (see arrive); dropped is a connection closed for it: the
// oldest waiting one that has sent nothing when waitingPerSlot per slot
// wait already, or c itself when none of them is silent.
func (p *connPool) enter(c *poolConn) (victim *poolConn, placed bool, dropped *poolConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.queue) == 0 {
		if victim, ok, _ := p.take(c, c.opened); ok {
			return victim, true, nil
		}
	}
	if len(p.queue) >= waitingPerSlot*p.max {
		i := slices.IndexFunc(p.queue, func(w *poolConn) bool { n, ok := received(w.Conn); return ok && n == 0 })
		if i < 0 {
			return nil, false, c
		}
		dropped = p.queue[i]
		p.queue = slices.Delete(p.queue, i, i+1)
	}
	p.queue = append(p.queue, c)
	p.crowd.Store(true)
	return nil, false, dropped
}

// admitting gives the waiting connections their slots as they come free
// or evictable, and closes those that waited admitWait, until Close.
func (p *connPool) admitting() {
	soon := time.NewTimer(p.wait)
	defer soon.Stop()
	for {
		if next := p.admitWaiting(); next.IsZero() {
			soon.Stop()
		} else {
			soon.Reset(time.Until(next))
		}
		select {
		case <-p.wake:
		case <-soon.C:
		case <-p.done:
			p.closeWaiting()
			return
		}
	}
}

// closeWaiting closes the connections waiting for a slot, at Close.
func (p *connPool) closeWaiting() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.queue {
		_ = c.Close()
	}
	p.queue = nil
}

// admitWaiting gives the waiting connections, oldest first, the slots
// free or evictable now, and closes those that waited admitWait; next is
// when to look again if nothing changes, zero when none wait.
func (p *connPool) admitWaiting() (next time.Time) {
	placed, victims, expired, next := p.settle(time.Now())
	for _, v := range victims {
		p.evict(v)
	}
	for _, c := range expired {
		p.refuse(c)
	}
	for _, c := range placed {
		p.deliver(c)
	}
	return next
}

// settle is admitWaiting's decision, under the lock. Whether a slot is
// free or evictable does not depend on who asks, so the first waiting
// connection that gets none ends the look.
func (p *connPool) settle(now time.Time) (placed, victims, expired []*poolConn, next time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	defer func() { p.crowd.Store(len(p.queue) > 0) }()
	for len(p.queue) > 0 {
		c, deadline := p.queue[0], p.queue[0].opened.Add(p.wait)
		if !now.Before(deadline) {
			expired, p.queue = append(expired, c), p.queue[1:]
			continue
		}
		victim, ok, retry := p.take(c, now)
		if !ok {
			if !retry.IsZero() && retry.Before(deadline) {
				deadline = retry
			}
			return placed, victims, expired, deadline
		}
		if victim != nil {
			victims = append(victims, victim)
		}
		placed, p.queue = append(placed, c), p.queue[1:]
	}
	return placed, victims, expired, time.Time{}
}

// deliver hands c, given a slot, to Accept.
func (p *connPool) deliver(c *poolConn) {
	select {
	case p.ready <- c:
	case <-p.done:
		_ = c.Close()
	}
}

// evict closes c, if any, evicted for a new connection.
func (p *connPool) evict(c *poolConn) {
	if c != nil {
		p.obs.ConnEvicted()
		_ = c.Close()
	}
}

// refuse closes c, if any, given no slot.
func (p *connPool) refuse(c *poolConn) {
	if c != nil {
		p.obs.ConnRefused()
		_ = c.Close()
	}
}

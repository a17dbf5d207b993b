package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Notify speaks systemd's notify protocol when NOTIFY_SOCKET is set, and
// does nothing otherwise.
type Notify struct {
	Logger *slog.Logger
}

func (n Notify) send(state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		n.Logger.Warn("systemd notify failed", "state", state, "err", err)
	}
}

// Ready says the config is loaded and the scheduler runs.
func (n Notify) Ready() { n.send(daemon.SdNotifyReady) }

// Reloading says a reload has begun; Ready ends it.
func (n Notify) Reloading() { n.send(daemon.SdNotifyReloading) }

// Stopping says shutdown has begun.
func (n Notify) Stopping() { n.send(daemon.SdNotifyStopping) }

// Watchdog pings systemd's watchdog at a third of WatchdogSec while alive
// says the scheduler loop is turning, until ctx ends. A stuck loop stops
// the pings, and systemd restarts the service.
func (n Notify) Watchdog(ctx context.Context, alive func(time.Time) bool) {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil || interval <= 0 {
		return
	}
	t := time.NewTicker(interval / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if alive(now) {
				n.send(daemon.SdNotifyWatchdog)
			}
		}
	}
}

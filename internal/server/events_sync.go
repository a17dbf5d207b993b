package server

import (
	"errors"
	"net/http"
	"time"

	"github.com/keysync/keysync/sync/scheduler"
)

// targetSync is POST /sync?account=<resource id or vault path>: a sync of
// that one account, as an Event Grid event queues it (coalesced, bounded,
// paced like a tick). It is behind the API token like POST /sync; it
// needs no interval of its own, since the scheduler coalesces requests
// for one account and bounds the accounts waiting.
func (s *Server) targetSync(w http.ResponseWriter, ref string) {
	if s.Targets == nil {
		s.observer().SyncRequest("disabled")
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "targeted syncs are off"})
		return
	}
	if ref == "" || len(ref) > 1024 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "account must be a resource id or a vault path of at most 1024 bytes"})
		return
	}
	label, res, err := s.Targets.Target(ref, time.Time{})
	switch {
	case errors.Is(err, scheduler.ErrUnknownAccount):
		writeJSON(w, http.StatusNotFound, map[string]any{"error": err.Error()})
		return
	case err != nil:
		s.observer().SyncRequest("rate_limited")
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": err.Error()})
		return
	}
	result := "started"
	if res != scheduler.TargetQueued {
		result = "coalesced"
	}
	s.observer().SyncRequest(result)
	s.Logger.Info("sync of one account requested over HTTP", "account", label, "result", string(res))
	writeJSON(w, http.StatusAccepted, map[string]any{"sync": string(res), "account": label})
}

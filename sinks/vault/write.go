package vault

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/hashicorp/vault/api"

	"github.com/keysync/keysync/sinks"
	"github.com/keysync/keysync/sync/plan"
)

// Apply makes ch true at path. cur is the state ch was planned from: its
// foreign fields are written back unchanged, and on KV v2 the data write is
// check-and-set against the version read, so a concurrent writer makes Apply
// fail with sinks.ErrConflict instead of being overwritten.
func (s *Sink) Apply(ctx context.Context, path string, cur plan.Current, ch plan.Change) error {
	return s.withToken(ctx, func() error { return s.apply(ctx, path, cur, ch) })
}

func (s *Sink) apply(ctx context.Context, path string, cur plan.Current, ch plan.Change) error {
	if !ch.HasChanges() {
		return nil
	}
	if !cur.Versioned {
		return s.writeV1(ctx, path, cur, ch)
	}
	// A create records ownership first, so that a data write which
	// succeeds is never left without keysync's mark on it. An update
	// writes data first: the next run repairs metadata that lags behind.
	if ch.Action == plan.Create {
		if err := s.writeMetadata(ctx, path, ch.Metadata); err != nil {
			return err
		}
	}
	if ch.WritesData() {
		if err := s.writeDataV2(ctx, path, cur, ch); err != nil {
			return err
		}
	}
	if ch.Action != plan.Create {
		return s.writeMetadata(ctx, path, ch.Metadata)
	}
	return nil
}

func (s *Sink) writeV1(ctx context.Context, path string, cur plan.Current, ch plan.Change) error {
	if !ch.WritesData() {
		return nil
	}
	data := cur.Data.With(ch.Set).Reveal()
	if _, err := s.client.Logical().WriteWithContext(ctx, s.mount+"/"+path, data); err != nil {
		return classify("write", path, err)
	}
	return nil
}

func (s *Sink) writeDataV2(ctx context.Context, path string, cur plan.Current, ch plan.Change) error {
	body := map[string]any{
		"options": map[string]any{"cas": ch.BaseVersion},
		"data":    cur.Data.With(ch.Set).Reveal(),
	}
	_, err := s.client.Logical().WriteWithContext(ctx, s.mount+"/data/"+path, body)
	if isCASMismatch(err) {
		// Transient: if re-planning loses the race every time, the
		// runner's backoff gives the other writer room.
		return &sinks.Error{Op: "write", Path: path, StatusCode: http.StatusBadRequest, Err: sinks.ErrConflict, Transient: true}
	}
	if err != nil {
		return classify("write", path, err)
	}
	return nil
}

func (s *Sink) writeMetadata(ctx context.Context, path string, meta map[string]string) error {
	if meta == nil {
		return nil
	}
	body := map[string]any{"custom_metadata": meta}
	if _, err := s.client.Logical().WriteWithContext(ctx, s.mount+"/metadata/"+path, body); err != nil {
		return classify("write-metadata", path, err)
	}
	return nil
}

func isCASMismatch(err error) bool {
	var re *api.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusBadRequest {
		return false
	}
	for _, m := range re.Errors {
		if strings.Contains(m, "check-and-set") {
			return true
		}
	}
	return false
}

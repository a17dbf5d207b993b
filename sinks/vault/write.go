package vault

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/hashicorp/vault/api"

	"github.com/keysync/keysync/sinks"
)

// Write makes w true at path. On KV v2 the data write is check-and-set
// against w.BaseVersion, so a concurrent writer makes Write fail with
// sinks.ErrConflict instead of being overwritten.
func (s *Sink) Write(ctx context.Context, path string, w sinks.Write) error {
	return s.withToken(ctx, func() error { return s.write(ctx, path, w) })
}

func (s *Sink) write(ctx context.Context, path string, w sinks.Write) error {
	v, err := s.kvVersion(ctx)
	if err != nil {
		return err
	}
	if w.Delete {
		return s.delete(ctx, path, v)
	}
	if v == 1 {
		return s.writeV1(ctx, path, w)
	}
	// A create records ownership first, so that a data write which
	// succeeds is never left without keysync's mark on it. An update
	// writes data first: the next run repairs metadata that lags behind.
	if w.Create {
		if err := s.writeMetadata(ctx, path, w.Metadata); err != nil {
			return err
		}
	}
	if w.WritesData() {
		if err := s.writeDataV2(ctx, path, w); err != nil {
			return err
		}
	}
	if !w.Create {
		return s.writeMetadata(ctx, path, w.Metadata)
	}
	return nil
}

func (s *Sink) writeV1(ctx context.Context, path string, w sinks.Write) error {
	if !w.WritesData() {
		return nil
	}
	if _, err := s.client.Logical().WriteWithContext(ctx, s.mount+"/"+path, w.Data.Reveal()); err != nil {
		return classify("write", path, err)
	}
	return nil
}

func (s *Sink) writeDataV2(ctx context.Context, path string, w sinks.Write) error {
	body := map[string]any{
		"options": map[string]any{"cas": w.BaseVersion},
		"data":    w.Data.Reveal(),
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

// delete removes the secret whole: on KV v2 its metadata and every
// version, on KV v1 the one value.
func (s *Sink) delete(ctx context.Context, path string, version int) error {
	p := s.mount + "/metadata/" + path
	if version == 1 {
		p = s.mount + "/" + path
	}
	if _, err := s.client.Logical().DeleteWithContext(ctx, p); err != nil {
		return classify("delete", path, err)
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

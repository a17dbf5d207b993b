package vault

import (
	"context"
	"errors"
	"maps"
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
	// A create writes the data first, checked and set against the version
	// read (0: none), with keysync's data mark in it, then merges
	// keysync's keys into whatever custom_metadata the path holds: no key
	// another writer put there is lost, even one that came after keysync
	// looked, and a create cut short between the two leaves data that
	// says whose it is (sync/plan repairs its metadata). An update writes
	// data first too, then the metadata whole: its read carried the
	// foreign keys.
	if w.WritesData() {
		if err := s.writeDataV2(ctx, path, w); err != nil {
			return err
		}
	}
	if w.Create {
		return s.mergeMetadata(ctx, path, w.Metadata)
	}
	return s.writeMetadata(ctx, path, w.Metadata)
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

// mergeMetadata sets meta's keys in the path's custom_metadata and keeps
// the others, in one JSON merge PATCH that KV v2 applies under the key's
// lock (vault-plugin-secrets-kv v0.21.0, Vault 1.19.0's: path_metadata.go
// pathMetadataPatch; Vault 1.9 and later). A token without the patch
// capability (403) or a Vault without PATCH (405) gets the metadata read
// and written whole with meta merged in instead: a writer of the metadata
// between those two requests loses its keys, which is why the documented
// policy grants patch.
func (s *Sink) mergeMetadata(ctx context.Context, path string, meta map[string]string) error {
	if meta == nil {
		return nil
	}
	_, err := s.client.Logical().JSONMergePatch(ctx, s.mount+"/metadata/"+path, map[string]any{"custom_metadata": meta})
	var re *api.ResponseError
	if err == nil || !errors.As(err, &re) || (re.StatusCode != http.StatusForbidden && re.StatusCode != http.StatusMethodNotAllowed) {
		return classifyOrNil("patch-metadata", path, err)
	}
	sec, err := s.client.Logical().ReadWithContext(ctx, s.mount+"/metadata/"+path)
	if err != nil {
		return classify("read-metadata", path, err)
	}
	var merged map[string]string
	if sec != nil {
		merged = stringMap(sec.Data["custom_metadata"])
	}
	if merged == nil {
		merged = make(map[string]string, len(meta))
	}
	maps.Copy(merged, meta)
	return s.writeMetadata(ctx, path, merged)
}

func classifyOrNil(op, path string, err error) error {
	if err == nil {
		return nil
	}
	return classify(op, path, err)
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

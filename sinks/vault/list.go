package vault

import (
	"context"
	"fmt"
	"strings"

	"github.com/keysync/keysync/sinks"
)

// maxListDepth bounds how deep List walks: Vault paths keysync writes are
// a few segments deep, and a mount nested deeper is not keysync's.
const maxListDepth = 16

// List implements sinks.Lister: the secrets under prefix, walking the
// mount's LIST answers (metadata/ on KV v2) folder by folder.
func (s *Sink) List(ctx context.Context, prefix string, limit int) ([]string, error) {
	var out []string
	err := s.withToken(ctx, func() error {
		v, err := s.kvVersion(ctx)
		if err != nil {
			return err
		}
		base := s.mount + "/"
		if v == 2 {
			base += "metadata/"
		}
		out = out[:0]
		return s.walk(ctx, base, strings.Trim(prefix, "/"), 0, limit, &out)
	})
	return out, err
}

func (s *Sink) walk(ctx context.Context, base, dir string, depth, limit int, out *[]string) error {
	if depth > maxListDepth {
		return fmt.Errorf("vault list %s: deeper than %d folders", dir, maxListDepth)
	}
	sec, err := s.client.Logical().ListWithContext(ctx, base+dir)
	if err != nil {
		return classify("list", dir, err)
	}
	if sec == nil || sec.Data == nil {
		return nil
	}
	keys, _ := sec.Data["keys"].([]any)
	for _, k := range keys {
		name, ok := k.(string)
		if !ok || name == "" || strings.Contains(strings.TrimSuffix(name, "/"), "/") {
			continue
		}
		p := name
		if dir != "" {
			p = dir + "/" + name
		}
		if strings.HasSuffix(name, "/") {
			if err := s.walk(ctx, base, strings.TrimSuffix(p, "/"), depth+1, limit, out); err != nil {
				return err
			}
			continue
		}
		if len(*out) >= limit {
			return &sinks.Error{Op: "list", Path: dir, Err: sinks.ErrTooMany}
		}
		*out = append(*out, p)
	}
	return nil
}

package memsink_test

import (
	"context"
	"errors"
	"testing"

	"github.com/keysync/keysync/sinks"
	"github.com/keysync/keysync/sinks/memsink"
	"github.com/keysync/keysync/sinks/sinktest"
)

func TestContract(t *testing.T) {
	s := memsink.New()
	sinktest.Run(t, sinktest.Harness{Sink: s, Prefix: "mem",
		Put: func(_ *testing.T, path string, data map[string]any) { s.Put(path, data, nil) }})
}

// TestCheck: the readiness check answers nil, the hook's error for
// "check", and a transient sinks.Error once ctx has ended.
func TestCheck(t *testing.T) {
	s := memsink.New()
	if err := s.Check(t.Context()); err != nil {
		t.Fatalf("Check: %v", err)
	}
	refused := errors.New("refused")
	s.Hook = func(_ context.Context, op, _ string) error {
		if op == "check" {
			return refused
		}
		return nil
	}
	if err := s.Check(t.Context()); !errors.Is(err, refused) {
		t.Fatalf("Check with a hook: %v, want %v", err, refused)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var se *sinks.Error
	if err := s.Check(ctx); !errors.As(err, &se) || !se.Transient {
		t.Fatalf("Check after cancel: %v, want a transient sinks.Error", err)
	}
}

package fault_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/keysync/keysync/fault"
)

type classified struct{ c fault.Class }

func (e classified) Error() string      { return "classified" }
func (e classified) Fault() fault.Class { return e.c }

func TestOf(t *testing.T) {
	throttled := classified{fault.Class{Transient: true, RetryAfter: 3 * time.Second, Code: "TooManyRequests"}}
	tests := []struct {
		name      string
		err       error
		transient bool
		shared    bool
		after     time.Duration
		code      string
	}{
		{"nil", nil, false, false, 0, fault.Unclassified},
		{"plain error", errors.New("boom"), false, false, 0, fault.Unclassified},
		{"context", context.DeadlineExceeded, false, false, 0, fault.Unclassified},
		{"classified", throttled, true, false, 3 * time.Second, "TooManyRequests"},
		{"wrapped", fmt.Errorf("fetching: %w", throttled), true, false, 3 * time.Second, "TooManyRequests"},
		{"shared, no code", classified{fault.Class{Shared: true}}, false, true, 0, fault.Unclassified},
		{"joined", errors.Join(errors.New("a"), throttled), true, false, 3 * time.Second, "TooManyRequests"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fault.Transient(tt.err); got != tt.transient {
				t.Errorf("Transient = %v, want %v", got, tt.transient)
			}
			if got := fault.Shared(tt.err); got != tt.shared {
				t.Errorf("Shared = %v, want %v", got, tt.shared)
			}
			if got := fault.RetryAfter(tt.err); got != tt.after {
				t.Errorf("RetryAfter = %v, want %v", got, tt.after)
			}
			if got := fault.Code(tt.err); got != tt.code {
				t.Errorf("Code = %q, want %q", got, tt.code)
			}
		})
	}
}

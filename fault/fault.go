// Package fault names how keysync classifies a failure. A source or a sink
// classifies each error once, where it happens, by implementing Error; the
// runner, the scheduler and the metrics decide from the Class, never from a
// message. The package imports nothing of keysync's, so both sides of a sync
// and everything between them can use it.
package fault

import (
	"errors"
	"time"
)

// Error is a failure that knows its class.
type Error interface {
	error
	// Fault returns the failure's class.
	Fault() Class
}

// Class is what the rest of keysync needs to know about a failure.
type Class struct {
	// Transient is true when the same call may succeed later: a timeout,
	// throttling, a 5xx, a sealed or unreachable server.
	Transient bool
	// Shared is true when the failure belongs to something every account
	// shares (a credential that yields no token), so retrying one account
	// on its own cannot help.
	Shared bool
	// RetryAfter is the server's requested wait, 0 when it asked none.
	RetryAfter time.Duration
	// Code is a short code for summaries and metric labels: bounded,
	// never a value from a request or a secret.
	Code string
}

// Unclassified is the code of an error that implements no Error.
const Unclassified = "Error"

// Of returns the class of err, or of the first error it wraps that has one.
func Of(err error) (Class, bool) {
	var e Error
	if errors.As(err, &e) {
		return e.Fault(), true
	}
	return Class{}, false
}

// Transient reports whether retrying err may help.
func Transient(err error) bool {
	c, _ := Of(err)
	return c.Transient
}

// Shared reports whether err is the failure of something every account
// shares.
func Shared(err error) bool {
	c, _ := Of(err)
	return c.Shared
}

// RetryAfter is the wait the server asked for with err, 0 when none.
func RetryAfter(err error) time.Duration {
	c, _ := Of(err)
	return c.RetryAfter
}

// Code is err's short code, Unclassified when it has no class or no code.
func Code(err error) string {
	if c, ok := Of(err); ok && c.Code != "" {
		return c.Code
	}
	return Unclassified
}

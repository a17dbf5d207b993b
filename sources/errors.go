package sources

import (
	"fmt"
	"strings"
	"time"

	"github.com/keysync/keysync/fault"
)

// Error is a failed call to a source, classified once, where it happened.
// Callers decide with errors.As and Transient; they never parse messages.
type Error struct {
	// StatusCode is the HTTP status, 0 for transport errors.
	StatusCode int
	// Code, Message, Target and Details come from the CloudError body.
	Code    string
	Message string
	Target  string
	Details []Detail
	// RequestID is ARM's x-ms-request-id, for support tickets.
	RequestID string
	// RetryAfter is the server's Retry-After, 0 when it sent none.
	RetryAfter time.Duration
	// Transient is true when the same call may succeed later.
	Transient bool
	// Credential is true when the failure is the credential's (no token
	// could be had): shared by every account that uses it, so retrying one
	// account on its own cannot help.
	Credential bool
	// Err is the underlying error (transport, decoding), if any.
	Err error
}

// Detail is one nested CloudErrorBody.
type Detail struct {
	Code    string   `json:"code"`
	Message string   `json:"message"`
	Target  string   `json:"target,omitempty"`
	Details []Detail `json:"details,omitempty"`
}

// Error implements error. It holds what ARM said about the failure, which
// never includes a key.
func (e *Error) Error() string {
	var b strings.Builder
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, "HTTP %d", e.StatusCode)
	}
	if e.Code != "" {
		sep(&b, " ")
		b.WriteString(e.Code)
	}
	if e.Message != "" {
		sep(&b, ": ")
		b.WriteString(e.Message)
	}
	if e.Target != "" {
		fmt.Fprintf(&b, " (target %s)", e.Target)
	}
	if e.Err != nil {
		sep(&b, ": ")
		b.WriteString(e.Err.Error())
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " [request-id %s]", e.RequestID)
	}
	return b.String()
}

func sep(b *strings.Builder, s string) {
	if b.Len() > 0 {
		b.WriteString(s)
	}
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Fault implements fault.Error. Its code is the CloudError code, else the
// HTTP status, else "Transport".
func (e *Error) Fault() fault.Class {
	c := fault.Class{Transient: e.Transient, Shared: e.Credential, RetryAfter: e.RetryAfter, Code: e.Code}
	switch {
	case c.Code != "":
	case e.StatusCode != 0:
		c.Code = fmt.Sprintf("HTTP%d", e.StatusCode)
	default:
		c.Code = "Transport"
	}
	return c
}

// TransientStatus classifies an HTTP status: 408, 429 and 5xx may pass;
// everything else (400, 401, 403, 404, 409 ...) will not without a change.
func TransientStatus(status int) bool {
	return status == 408 || status == 429 || status >= 500
}

package vault

import (
	"net/http"
	"strconv"
	"strings"
)

// observingTransport reports each request's purpose and status.
type observingTransport struct {
	base    http.RoundTripper
	observe func(op, code string)
}

// RoundTrip implements http.RoundTripper.
func (t observingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	code := "error"
	if err == nil {
		code = strconv.Itoa(resp.StatusCode)
	}
	t.observe(opOf(req.Method, req.URL.Path), code)
	return resp, err
}

// opOf names what a request to Vault was for, from a small fixed set, so that
// metric labels stay bounded: read, write, read-metadata, write-metadata,
// auth or sys.
func opOf(method, path string) string {
	switch {
	case strings.HasPrefix(path, "/v1/auth/"):
		return "auth"
	case strings.HasPrefix(path, "/v1/sys/"):
		return "sys"
	case strings.Contains(path, "/metadata/") && method == http.MethodGet:
		return "read-metadata"
	case strings.Contains(path, "/metadata/"):
		return "write-metadata"
	case method == http.MethodGet:
		return "read"
	}
	return "write"
}

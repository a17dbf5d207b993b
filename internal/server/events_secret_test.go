package server

import (
	"net/http"
	"os"
	"strings"
	"testing"
)

const nextSecret = "event-grid-next-shared-secret-9876543210"

// withSecret is a delivery carrying secret in the header, or in the query
// when query is set.
func withSecret(secret string, query bool) func(*http.Request) {
	return func(r *http.Request) {
		r.Header.Del("X-Keysync-Secret")
		if query {
			r.URL.RawQuery = "code=" + secret
			return
		}
		r.Header.Set("X-Keysync-Secret", secret)
	}
}

// TestEventsNextSecret: during a change of shared secret a delivery
// carrying either the current or the next one, in the header or the
// query, is accepted; any other is refused. Once the next secret is
// written into the current file, the old one is refused. While the next
// secret's file cannot be used, a delivery the current secret does not
// admit may carry the next one: it is answered 503, not 401.
func TestEventsNextSecret(t *testing.T) {
	e := newEventsEnv(t, func(h *EventsHandler) { h.NextSecret = mustToken(t, nextSecret, 0o600) })
	steps := []struct {
		name   string
		before func()
		mod    func(*http.Request)
		want   int
	}{
		{"current secret", nil, withSecret(testSecret, false), http.StatusOK},
		{"next secret in the header", nil, withSecret(nextSecret, false), http.StatusOK},
		{"next secret in the query", nil, withSecret(nextSecret, true), http.StatusOK},
		{"neither", nil, withSecret(nextSecret+"x", false), http.StatusUnauthorized},
		{"none", nil, func(r *http.Request) { r.Header.Del("X-Keysync-Secret") }, http.StatusUnauthorized},
		{"next secret's file unusable: the current secret", func() { chmod(t, e.h.NextSecret.path, 0o644) }, withSecret(testSecret, false), http.StatusOK},
		{"next secret's file unusable: the next secret", nil, withSecret(nextSecret, false), http.StatusServiceUnavailable},
		{"next secret's file unusable: a wrong one", nil, withSecret("wrong-secret-0123456789", false), http.StatusServiceUnavailable},
		{"next secret's file fixed", func() { chmod(t, e.h.NextSecret.path, 0o600) }, withSecret(nextSecret, false), http.StatusOK},
		{"next moved to current: the old secret", func() { rewrite(t, e.h.Secret.path, nextSecret) }, withSecret(testSecret, false), http.StatusUnauthorized},
		{"next moved to current: the new one", nil, withSecret(nextSecret, false), http.StatusOK},
	}
	body := mustJSON(t, []any{resourceEvent("i", "Microsoft.Resources.ResourceActionSuccess", "Microsoft.Batch/batchAccounts/listKeys/action", batchAcct.ResourceID())})
	for _, st := range steps {
		if st.before != nil {
			st.before()
		}
		w := e.post("application/json", body, st.mod)
		if w.Code != st.want {
			t.Fatalf("%s: status %d, want %d: %s", st.name, w.Code, st.want, w.Body)
		}
		if strings.Contains(w.Body.String(), testSecret) || strings.Contains(w.Body.String(), nextSecret) {
			t.Fatalf("%s: the answer holds a secret", st.name)
		}
	}
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func rewrite(t *testing.T, path, secret string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

package testenv

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
)

// DenyMountType stands between keysync and the Vault at addr and answers
// 403 to sys/internal/ui/mounts, as Vault does to a token that cannot read
// a mount's type (Vault 1.19 lets any token with a right under a mount
// read it, so no real policy can make it fail); every other request
// reaches the real server. It returns the address to give keysync.
func DenyMountType(t testing.TB, addr string) string {
	t.Helper()
	target, err := url.Parse(addr)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/sys/internal/ui/mounts") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"errors":["1 error occurred:\n\t* permission denied\n\n"]}`))
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

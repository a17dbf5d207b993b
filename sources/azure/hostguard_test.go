package azure

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/keysync/keysync/fault"
	"github.com/keysync/keysync/internal/armemu"
	"github.com/keysync/keysync/secret"
	"github.com/keysync/keysync/sources"
)

// recorder is a TLS server that is not ARM: it counts every request it
// gets, and those that carry an Authorization header.
type recorder struct {
	*httptest.Server
	hits, tokens atomic.Int32
}

func newRecorder(t *testing.T) *recorder {
	t.Helper()
	rec := &recorder{}
	rec.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.hits.Add(1)
		if r.Header.Get("Authorization") != "" {
			rec.tokens.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(rec.Close)
	return rec
}

// trustingBoth is emuOpts with a transport that trusts the emulator and
// rec alike, so that only keysync's own rules keep requests from rec.
func trustingBoth(rec *recorder) Options {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(emu.CACertPEM())
	pool.AddCert(rec.Certificate())
	o := emuOpts
	o.Transport = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	return o
}

// TestRegenerateNeverFollowsResourceLocation: a long-running regenerate
// that answers 202 with only Operation-Location, on ARM's host, and whose
// Succeeded status names a resourceLocation on another host (trusted, and
// listening) sends that host nothing, let alone ARM's token: keysync
// makes no final GET, and reads the keys after with listKeys on ARM.
func TestRegenerateNeverFollowsResourceLocation(t *testing.T) {
	emu.SetOperationReads(1, "0")
	rec := newRecorder(t)
	s := newSource(t, trustingBoth(rec))
	a, r := rotatable(t, "cosmosdb", 930)
	before, _ := emu.Get(r)
	emu.InjectFault(r, armemu.Fault{Kind: armemu.FaultOperationElsewhere, Location: rec.URL + "/subscriptions/x", Times: 1})
	keys, err := s.Regenerate(context.Background(), a, "secondaryMasterKey")
	if n := rec.hits.Load(); n != 0 {
		t.Fatalf("%d requests reached the other host, %d with a bearer token", n, rec.tokens.Load())
	}
	if err != nil {
		t.Fatalf("the operation succeeded on ARM: %v", err)
	}
	after, _ := emu.Get(r)
	if after.Keys["secondaryMasterKey"] == before.Keys["secondaryMasterKey"] {
		t.Fatal("the emulator renewed no key")
	}
	for f, v := range after.Keys {
		if !keys[f].Equal(secret.New(v)) {
			t.Fatalf("%s is not the key ARM's listKeys answers now", f)
		}
	}
}

func TestHostGuard(t *testing.T) {
	for _, tt := range []struct {
		name, endpoint, url string
		ok                  bool
	}{
		{"arm itself", "https://management.azure.com/", "https://management.azure.com/subscriptions/s", true},
		{"its default port named", "https://management.azure.com/", "https://management.azure.com:443/x", true},
		{"its default port left out, the endpoint naming it", "https://management.azure.com:443/", "https://management.azure.com/x", true},
		{"a regional arm host, its default port named", "https://management.azure.com", "https://westeurope.management.azure.com:443/x", true},
		{"a regional arm host, the endpoint naming the port", "https://management.azure.com:443", "https://westeurope.management.azure.com/x", true},
		{"a regional arm host on another port", "https://management.azure.com", "https://westeurope.management.azure.com:8443/x", false},
		{"host names without case", "https://management.azure.com/", "https://Management.Azure.COM/x", true},
		{"a regional arm host", "https://management.azure.com/", "https://centraluseuap.management.azure.com/subscriptions/s/operationsStatus/1", true},
		{"two labels deeper", "https://management.azure.com/", "https://a.westus.management.azure.com/x", false},
		{"a label that is no region", "https://management.azure.com/", "https://evil-x.management.azure.com/x", false},
		{"a look-alike host", "https://management.azure.com/", "https://evilmanagement.azure.com/x", false},
		{"arm's name as a prefix", "https://management.azure.com/", "https://management.azure.com.evil.example/x", false},
		{"a trailing dot", "https://management.azure.com/", "https://management.azure.com./x", false},
		{"another port", "https://management.azure.com/", "https://management.azure.com:8443/x", false},
		{"plain http", "https://management.azure.com/", "http://management.azure.com/x", false},
		{"user info", "https://management.azure.com/", "https://user:pw@management.azure.com/x", false},
		{"another host", "https://management.azure.com/", "https://elsewhere.example/steal", false},
		{"no regional hosts in another cloud", "https://management.chinacloudapi.cn", "https://chinanorth.management.chinacloudapi.cn/x", false},
		{"the emulator", "https://127.0.0.1:8443", "https://127.0.0.1:8443/subscriptions/s", true},
		{"the emulator on another port", "https://127.0.0.1:8443", "https://127.0.0.1:9443/x", false},
		{"the emulator by another name", "https://127.0.0.1:8443", "https://localhost:8443/x", false},
		{"the emulator's default port", "https://127.0.0.1:8443", "https://127.0.0.1/x", false},
		{"no sub-host of an endpoint of the file's own", "https://arm.example:8443", "https://westus.arm.example:8443/x", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g, err := newHostGuard(tt.endpoint)
			if err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			err = g.check(u)
			if (err == nil) != tt.ok {
				t.Fatalf("check(%s) = %v", tt.url, err)
			}
			if err != nil && (strings.Contains(err.Error(), "pw") || strings.Contains(err.Error(), "/x")) {
				t.Fatalf("the error quotes more than the host: %v", err)
			}
		})
	}
}

// wire records the host of every request that reaches the transport.
type wire struct {
	next  *http.Client
	mu    sync.Mutex
	hosts []string
}

func (w *wire) Do(req *http.Request) (*http.Response, error) {
	w.mu.Lock()
	w.hosts = append(w.hosts, req.URL.Host)
	w.mu.Unlock()
	return w.next.Do(req)
}

func (w *wire) seen() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.hosts)
}

// TestHostGuardIsARMsAlone: with ARM at https://localhost:port and the
// managed-identity endpoint at https://127.0.0.1:port (the same emulator
// by two names), keys are read (the token request is not ARM's, and is
// not guarded), while ARM's pipeline sends nothing to 127.0.0.1, to
// another server, over http or with user info: each request fails before
// the transport (an https one as ForeignHost, permanent), naming the host
// and nothing of the query or user info.
func TestHostGuardIsARMsAlone(t *testing.T) {
	rec := newRecorder(t)
	o := trustingBoth(rec)
	next, _ := o.Transport.(*http.Client)
	w := &wire{next: next}
	o.Transport, o.ClientID = w, "guard-client"
	o.Endpoint = strings.Replace(emu.URL(), "127.0.0.1", "localhost", 1)
	s := newSource(t, o)
	emu.Add(armemu.Resource{Subscription: sub, ResourceGroup: "rg-guard", Name: "guardacct"})
	if _, err := s.Fetch(context.Background(), sources.Account{SubscriptionID: sub, ResourceGroup: "rg-guard", Name: "guardacct"}); err != nil {
		t.Fatal(err)
	}
	if emu.TokenRequests("guard-client") == 0 {
		t.Fatal("no token request reached the managed-identity endpoint")
	}
	before := len(w.seen())
	for _, u := range []string{emu.URL() + "/subscriptions/" + sub, rec.URL + "/subscriptions/" + sub,
		strings.Replace(o.Endpoint, "https://", "https://user:pw@", 1) + "/subscriptions/" + sub + "?secret=1",
		strings.Replace(o.Endpoint, "https://", "http://", 1) + "/subscriptions/" + sub} {
		req, err := runtime.NewRequest(context.Background(), http.MethodGet, u)
		if err != nil {
			t.Fatal(err)
		}
		err = s.exchange(context.Background(), req, sub, func(*http.Response, []byte) error { return nil })
		if err == nil || strings.Contains(err.Error(), "pw") || strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: %v", u, err)
		}
		// azcore's bearer policy, before the guard, refuses http itself.
		if c, _ := fault.Of(err); strings.HasPrefix(u, "https") && (c.Transient || c.Code != "ForeignHost") {
			t.Errorf("%s: %+v (%v)", u, c, err)
		}
	}
	if sent := w.seen()[before:]; len(sent) != 0 || rec.hits.Load() != 0 {
		t.Fatalf("requests reached the wire: %v, %d at the other server", sent, rec.hits.Load())
	}
}

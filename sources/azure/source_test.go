package azure

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/keysync/keysync/config"
	"github.com/keysync/keysync/internal/armemu"
	"github.com/keysync/keysync/sources"
)

const sub = "11111111-2222-3333-4444-555555555555"

var (
	emu     *armemu.Emulator
	emuOpts Options
)

// TestMain starts one emulator for the package: MSAL caches managed-identity
// tokens process-wide, so a second emulator would be sent the first one's
// tokens. The source and its credential trust the emulator's CA through an
// explicit transport, since SSL_CERT_FILE is read only once per process.
func TestMain(m *testing.M) {
	emu = armemu.New()
	if err := emu.Start("127.0.0.1:0"); err != nil {
		panic(err)
	}
	mustSetenv("IDENTITY_ENDPOINT", emu.IdentityEndpoint())
	mustSetenv("IDENTITY_HEADER", emu.IdentityHeader)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(emu.CACertPEM())
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	// Every request has 30 s (keysync's default) to answer, so that none
	// times out on a busy machine; the tests of a hang set their own.
	emuOpts = Options{Azure: config.Azure{Endpoint: emu.URL(), Credential: config.CredentialManagedIdentity, Timeout: config.Duration{Duration: 30 * time.Second}},
		Transport: client}
	code := m.Run()
	emu.Close()
	os.Exit(code)
}

// mustSetenv sets an environment variable for the whole test binary; there
// is no test yet to fail, so a failure panics.
func mustSetenv(key, value string) {
	if err := os.Setenv(key, value); err != nil {
		panic(err)
	}
}

func startEmulator(t *testing.T) (*armemu.Emulator, Options) {
	t.Helper()
	return emu, emuOpts
}

func newSource(t *testing.T, o Options) *Source {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestFetchSendsTheDocumentedRequest checks the request on the wire: POST,
// the documented path with escaped segments, the api-version, a bearer
// token and azcore's client request id.
func TestFetchSendsTheDocumentedRequest(t *testing.T) {
	emu, o := startEmulator(t)
	rg := "Batch_RG-(eu).west"
	want := emu.Add(armemu.Resource{Subscription: sub, ResourceGroup: rg, Name: "sampleacct"})
	before := len(emu.RequestLog())
	keys, err := newSource(t, o).Fetch(context.Background(), sources.Account{SubscriptionID: sub, ResourceGroup: rg, Name: "sampleacct"})
	if err != nil {
		t.Fatal(err)
	}
	if keys["primary"].Reveal() != want.Keys["primary"] || keys["secondary"].Reveal() != want.Keys["secondary"] {
		t.Fatal("fetched keys differ from the emulator's")
	}
	log := emu.RequestLog()
	if len(log) != before+1 {
		t.Fatalf("%d requests for one fetch, want 1", len(log)-before)
	}
	r := log[len(log)-1]
	wantPath := "/subscriptions/" + sub + "/resourceGroups/Batch_RG-%28eu%29.west/providers/Microsoft.Batch/batchAccounts/sampleacct/listKeys"
	if r.Method != http.MethodPost || r.Path != wantPath || r.RawQuery != "api-version=2026-08-01" {
		t.Fatalf("request %s %s?%s, want POST %s?api-version=2026-08-01", r.Method, r.Path, r.RawQuery, wantPath)
	}
	if !r.Authorized || r.ClientRequestID == "" || !strings.Contains(r.UserAgent, "keysync") {
		t.Fatalf("request lacks auth, request id or user agent: %+v", r)
	}
}

// TestFetchErrors checks each failure's classification and fields through
// the real pipeline.
func TestFetchErrors(t *testing.T) {
	emu, o := startEmulator(t)
	tests := []struct {
		name      string
		fault     *armemu.Fault
		opts      func(*Options)
		status    int
		code      string
		transient bool
		retry     time.Duration
	}{
		{name: "throttled", fault: &armemu.Fault{Kind: armemu.FaultStatus, Status: 429, Code: "SubscriptionRequestsThrottled", Message: "slow down", RetryAfter: 7},
			status: 429, code: "SubscriptionRequestsThrottled", transient: true, retry: 7 * time.Second},
		{name: "forbidden", fault: &armemu.Fault{Kind: armemu.FaultStatus, Status: 403, Code: "AuthorizationFailed", Message: "no"},
			status: 403, code: "AuthorizationFailed"},
		{name: "gateway html", fault: &armemu.Fault{Kind: armemu.FaultHTML}, status: 502, code: "HTTP502", transient: true},
		{name: "reset", fault: &armemu.Fault{Kind: armemu.FaultReset}, code: "Transport", transient: true},
		{name: "hang", fault: &armemu.Fault{Kind: armemu.FaultHang}, code: "Timeout", transient: true,
			opts: func(o *Options) { o.Timeout = config.Duration{Duration: time.Second} }}, // the answer never comes: any timeout ends it
		{name: "truncated", fault: &armemu.Fault{Kind: armemu.FaultTruncated}, status: 200, code: "HTTP200"},
		{name: "wrong api-version", opts: func(o *Options) { o.APIVersion = "2017-01-01" }, status: 400, code: "InvalidApiVersionParameter"},
		{name: "wrong audience", opts: func(o *Options) { o.Audience = "https://vault.azure.net" }, status: 401, code: "InvalidAuthenticationTokenAudience"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := fmt.Sprintf("acct%c", 'a'+i)
			res := armemu.Resource{Subscription: sub, ResourceGroup: "rg", Name: name}
			emu.Add(res)
			if tt.fault != nil {
				emu.InjectFault(res, *tt.fault)
			}
			oo := o
			if tt.opts != nil {
				tt.opts(&oo)
			}
			_, err := newSource(t, oo).Fetch(context.Background(), sources.Account{SubscriptionID: sub, ResourceGroup: "rg", Name: name})
			var se *sources.Error
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a *sources.Error", err)
			}
			if se.StatusCode != tt.status || se.Fault().Code != tt.code || se.Transient != tt.transient || se.RetryAfter != tt.retry {
				t.Fatalf("got status=%d code=%s transient=%t retry=%v (%v)", se.StatusCode, se.Fault().Code, se.Transient, se.RetryAfter, err)
			}
			if tt.status >= 400 && se.RequestID == "" {
				t.Error("no request id")
			}
		})
	}
}

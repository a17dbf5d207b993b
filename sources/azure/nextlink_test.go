package azure

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/keysync/keysync/config"
	"github.com/keysync/keysync/fault"
	"github.com/keysync/keysync/internal/armemu"
	"github.com/keysync/keysync/sources"
)

// TestNextLinkHosts: a nextLink is followed on the hosts the guard sends
// ARM's token to, and only there: ARM's host with its default port
// written out or left out, whichever the endpoint names, and a regional
// sub-host of the public cloud's; never another host, port or scheme, nor
// another path than the one listed.
func TestNextLinkHosts(t *testing.T) {
	const list = "/subscriptions/s/providers/Microsoft.Batch/batchAccounts"
	for _, tt := range []struct {
		name, endpoint, link string
		ok                   bool
	}{
		{"arm itself", "https://management.azure.com", "https://management.azure.com" + list + "?$skiptoken=x", true},
		{"its default port written out", "https://management.azure.com", "https://management.azure.com:443" + list, true},
		{"its default port left out", "https://management.azure.com:443", "https://management.azure.com" + list, true},
		{"a regional sub-host", "https://management.azure.com", "https://westeurope.management.azure.com" + list, true},
		{"a regional sub-host, port written out", "https://management.azure.com/", "https://centraluseuap.management.azure.com:443" + list, true},
		{"another port", "https://management.azure.com", "https://management.azure.com:8443" + list, false},
		{"another host", "https://management.azure.com", "https://attacker.example" + list, false},
		{"a look-alike host", "https://management.azure.com", "https://management.azure.com.attacker.example" + list, false},
		{"two labels deeper", "https://management.azure.com", "https://a.westeurope.management.azure.com" + list, false},
		{"plain http", "https://management.azure.com", "http://management.azure.com" + list, false},
		{"user info", "https://management.azure.com", "https://u:p@management.azure.com" + list, false},
		{"another path", "https://management.azure.com", "https://management.azure.com/subscriptions/other", false},
		{"no regional sub-host in another cloud", "https://management.chinacloudapi.cn", "https://chinanorth.management.chinacloudapi.cn" + list, false},
		{"an endpoint of the file's own: its port alone", "https://127.0.0.1:8443", "https://127.0.0.1:8443" + list, true},
		{"an endpoint of the file's own: not the default port", "https://127.0.0.1:8443", "https://127.0.0.1" + list, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := emuOpts
			o.Endpoint = tt.endpoint
			got, err := newSource(t, o).nextLink(tt.link, list)
			if (err == nil) != tt.ok {
				t.Fatalf("nextLink(%s) = %q, %v", tt.link, got, err)
			}
			if err != nil && (fault.Code(err) != "MalformedAnswer" || strings.Contains(err.Error(), "u:p")) {
				t.Fatalf("refusal %v", err)
			}
		})
	}
}

// armNamed is emuOpts with ARM at endpoint, a public cloud's name: the
// transport dials the emulator for every host, and checks its certificate
// for localhost, as a resolver that sent ARM's names to it would.
func armNamed(endpoint string) Options {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(emu.CACertPEM())
	addr := strings.TrimPrefix(emu.URL(), "https://")
	var d net.Dialer
	o := emuOpts
	o.Endpoint = endpoint
	o.Transport = &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		}}}
	return o
}

// TestNextLinksOnARMsOtherNames: ARM at https://management.azure.com
// answers nextLinks with the default port written out, or on a regional
// sub-host, for the subscriptions and for a type's list: discovery
// follows them all, with either engine, and finds every account; a
// long-running regenerate polled on a regional sub-host completes.
func TestNextLinksOnARMsOtherNames(t *testing.T) {
	discoverSource(t) // the emulator's discovery settings, restored after
	s := newSource(t, armNamed("https://management.azure.com"))
	emu.SetListPageSize(1)
	emu.SetOperationReads(1, "0")
	t.Cleanup(func() { emu.SetLinkHost("management.azure.com", "") })
	tag := map[string]string{"suite": t.Name()}
	var want []string
	for i := range 3 {
		name := fmt.Sprintf("link%d", i)
		addTagged(t, "batch", newSub(), "rg", name, tag)
		want = append(want, name)
	}
	sub := newSub()
	for i := range 3 {
		addTagged(t, "batch", sub, "rg", fmt.Sprintf("listed%d", i), nil)
	}
	bySub := sources.Selector{Type: "batch", Subscriptions: []string{sub}}
	byTag := sources.Selector{Type: "batch", Tags: []sources.TagMatch{{Key: "suite", Op: sources.TagEquals, Value: t.Name()}}}
	for _, link := range []string{"management.azure.com:443", "westeurope.management.azure.com"} {
		emu.SetLinkHost("management.azure.com", link)
		before := len(emu.RequestLog())
		found, _, err := s.Discover(context.Background(), bySub, config.DiscoveryARMList)
		if err != nil || names(found) != "listed0,listed1,listed2" {
			t.Fatalf("arm-list, links on %s: found %q (%v)", link, names(found), err)
		}
		found, _, err = s.Discover(context.Background(), byTag, config.DiscoveryResourceGraph)
		if err != nil || names(found) != strings.Join(want, ",") {
			t.Fatalf("subscriptions, links on %s: found %q (%v)", link, names(found), err)
		}
		if n := requestsTo(emu.RequestLog()[before:], link); n < 4 {
			t.Fatalf("%d requests followed nextLinks to %s, want one per page after the first", n, link)
		}
	}
	a, r := rotatable(t, "cosmosdb", 931)
	before, _ := emu.Get(r)
	if _, err := s.Regenerate(context.Background(), a, "secondaryMasterKey"); err != nil {
		t.Fatalf("regenerate polled on a regional sub-host: %v", err)
	}
	if after, _ := emu.Get(r); after.Keys["secondaryMasterKey"] == before.Keys["secondaryMasterKey"] {
		t.Fatal("the emulator renewed no key")
	}
}

// requestsTo counts the requests of log addressed to host.
func requestsTo(log []armemu.Request, host string) int {
	n := 0
	for _, r := range log {
		if strings.EqualFold(r.Host, host) {
			n++
		}
	}
	return n
}

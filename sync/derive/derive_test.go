package derive

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keysync/keysync/secret"
	"github.com/keysync/keysync/sync/derive/spec"
)

var (
	key1 = base64.StdEncoding.EncodeToString([]byte("key one of the storage account, 64 bytes long, as Azure's are.."))
	key2 = base64.StdEncoding.EncodeToString([]byte("key two of the storage account, 64 bytes long, as Azure's are.."))
	t0   = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

func storageInput(active string) Input {
	return Input{AccountID: "/subscriptions/s/resourcegroups/rg/providers/microsoft.storage/storageaccounts/acct", Name: "acct",
		Keys: secret.Fields{"key1": secret.New(key1), "key2": secret.New(key2)}, Active: active, Suffix: "core.windows.net",
		Props: map[string]string{"blob": "https://acct.blob.core.windows.net/", "queue": "https://acct.queue.core.windows.net/"}}
}

func TestStorageConnectionString(t *testing.T) {
	tests := []struct {
		name      string
		endpoints map[string]string
		suffix    string
		want      string
	}{
		{"the cloud's default endpoint names the suffix", map[string]string{"blob": "https://acct.blob.core.windows.net/"}, "core.windows.net",
			"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=" + key1 + ";EndpointSuffix=core.windows.net"},
		{"China's suffix", map[string]string{"blob": "https://acct.blob.core.chinacloudapi.cn/"}, "core.chinacloudapi.cn",
			"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=" + key1 + ";EndpointSuffix=core.chinacloudapi.cn"},
		{"another endpoint is named as the properties give it", map[string]string{"blob": "http://127.0.0.1:10000/acct", "table": "http://127.0.0.1:10002/acct"}, "core.windows.net",
			"DefaultEndpointsProtocol=http;AccountName=acct;AccountKey=" + key1 + ";BlobEndpoint=http://127.0.0.1:10000/acct;TableEndpoint=http://127.0.0.1:10002/acct"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := storageInput("key1")
			in.Props, in.Suffix = tt.endpoints, tt.suffix
			r, err := Derive(spec.Spec{Name: "cs", Kind: spec.StorageConnectionString}, in, nil, t0)
			if err != nil {
				t.Fatal(err)
			}
			if r.Value.Reveal() != tt.want || !r.Expires.IsZero() || !r.Fresh {
				t.Fatalf("got a different connection string (fresh %v, expires %v)", r.Fresh, r.Expires)
			}
		})
	}
	in := storageInput("key1")
	in.Props = nil
	if _, err := Derive(spec.Spec{Name: "cs", Kind: spec.StorageConnectionString}, in, nil, t0); err == nil || !strings.Contains(err.Error(), "blob endpoint") {
		t.Fatalf("no endpoint: err %v, want one naming the blob endpoint", err)
	}
}

// TestDeriveKeepsRenewsAndResigns: a held SAS is kept while it is what the
// active key makes and its renewal is not due; it is made anew when the
// renewal is due, when the active key moved, and when the spec changed.
func TestDeriveKeepsRenewsAndResigns(t *testing.T) {
	sp := spec.Spec{Name: "sas", Kind: spec.StorageAccountSAS, Permissions: "rl", ResourceTypes: "sco", Expiry: 24 * time.Hour}
	first, err := Derive(sp, storageInput("key1"), nil, t0)
	if err != nil || !first.Fresh || !first.Expires.Equal(t0.Add(24*time.Hour)) {
		t.Fatalf("first: %+v, %v", first, err)
	}
	q, _ := url.ParseQuery(first.Value.Reveal())
	if q.Get("spr") != "https" || q.Get("st") != "2026-03-01T11:55:00Z" || q.Get("sp") != "rl" || q.Get("ss") != "b" {
		t.Fatalf("SAS parameters spr=%s st=%s sp=%s ss=%s", q.Get("spr"), q.Get("st"), q.Get("sp"), q.Get("ss"))
	}
	renew := spec.RenewAt(sp, storageInput("key1").AccountID, first.Expires)
	tests := []struct {
		name  string
		spec  spec.Spec
		in    Input
		now   time.Time
		fresh bool
	}{
		{"kept an hour on", sp, storageInput("key1"), t0.Add(time.Hour), false},
		{"kept just before its renewal", sp, storageInput("key1"), renew.Add(-time.Second), false},
		{"renewed when due", sp, storageInput("key1"), renew, true},
		{"re-signed when the other key is active", sp, storageInput("key2"), t0.Add(time.Hour), true},
		{"re-signed when the permissions change", with(sp, func(s *spec.Spec) { s.Permissions = "r" }), storageInput("key1"), t0.Add(time.Hour), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			held := first.Value
			got, err := Derive(tt.spec, tt.in, &held, tt.now)
			if err != nil {
				t.Fatal(err)
			}
			if got.Fresh != tt.fresh || got.Value.Equal(first.Value) == tt.fresh {
				t.Fatalf("fresh %v, want %v", got.Fresh, tt.fresh)
			}
		})
	}
}

// TestDeriveErrorsQuoteNoKey: a key that is not base64 fails without the
// key in the error.
func TestDeriveErrorsQuoteNoKey(t *testing.T) {
	in := storageInput("key1")
	in.Keys["key1"] = secret.New("not*base64*secret*material")
	_, err := Derive(spec.Spec{Name: "sas", Kind: spec.StorageServiceSAS, Permissions: "r", Container: "data", Expiry: time.Hour}, in, nil, t0)
	if err == nil || strings.Contains(err.Error(), "secret*material") {
		t.Fatalf("err %v", err)
	}
}

func with(s spec.Spec, f func(*spec.Spec)) spec.Spec {
	f(&s)
	return s
}

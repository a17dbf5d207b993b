package spec

import (
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
)

func TestCheck(t *testing.T) {
	acct := Spec{Name: "sas", Kind: StorageAccountSAS, Permissions: "rl", ResourceTypes: "sco", Expiry: time.Hour}
	svc := Spec{Name: "sas", Kind: StorageServiceSAS, Permissions: "rl", Container: "data", Expiry: time.Hour}
	tests := []struct {
		name string
		spec Spec
		typ  string
		want string // "" for no problem; else "field: part of the message"
	}{
		{"account SAS", acct, "storage", ""},
		{"service SAS", svc, "storage", ""},
		{"connection string", Spec{Name: "cs", Kind: StorageConnectionString}, "storage", ""},
		{"event hubs SAS", Spec{Name: "t", Kind: EventHubsSAS, Entity: "hub1", Expiry: time.Hour}, "eventhubs", ""},
		{"unknown kind", Spec{Name: "x", Kind: "storage-magic"}, "storage", "kind: must be one of"},
		{"kind of another type", Spec{Name: "x", Kind: EventHubsSAS, Expiry: time.Hour}, "storage", "kind: eventhubs-sas applies to type eventhubs"},
		{"bad permission letter", with(acct, func(s *Spec) { s.Permissions = "rz" }), "storage", `permissions: letter 'z' is not one of "rwdxylacuptfi"`},
		{"letter a container SAS lacks", with(svc, func(s *Spec) { s.Permissions = "ry" }), "storage", `permissions: letter 'y' is not one of`},
		{"letter twice", with(acct, func(s *Spec) { s.Permissions = "rlr" }), "storage", "permissions: names 'r' twice"},
		{"no permissions", with(acct, func(s *Spec) { s.Permissions = "" }), "storage", "permissions: must name at least one"},
		{"bad resource type", with(acct, func(s *Spec) { s.ResourceTypes = "sx" }), "storage", `resource_types: letter 'x'`},
		{"expiry too short", with(acct, func(s *Spec) { s.Expiry = 10 * time.Second }), "storage", "expiry: must be between 30s and 365d, got 10s"},
		{"expiry too long", with(acct, func(s *Spec) { s.Expiry = 400 * 24 * time.Hour }), "storage", "expiry: must be between"},
		{"no expiry", with(acct, func(s *Spec) { s.Expiry = 0 }), "storage", "expiry: must be between"},
		{"expiry on a connection string", Spec{Name: "cs", Kind: StorageConnectionString, Expiry: time.Hour}, "storage", "expiry: does not apply"},
		{"renew_before of 1", with(acct, func(s *Spec) { s.RenewBefore = 1 }), "storage", "renew_before: must be a share"},
		{"bad container", with(svc, func(s *Spec) { s.Container = "Data_1" }), "storage", "container: must name a container"},
		{"bad ip range", with(acct, func(s *Spec) { s.IPRange = "10.0.0.1-x" }), "storage", "ip_range: ip_range must be an address"},
		{"permissions on a connection string", Spec{Name: "cs", Kind: StorageConnectionString, Permissions: "r"}, "storage", "permissions: applies only to a Storage SAS"},
		{"bad entity", Spec{Name: "t", Kind: ServiceBusSAS, Entity: "a b", Expiry: time.Hour}, "servicebus", "entity: must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Check(tt.spec, tt.typ)
			if tt.want == "" {
				if len(got) != 0 {
					t.Fatalf("problems %v, want none", got)
				}
				return
			}
			for _, p := range got {
				if strings.Contains(p.Field+": "+p.Msg, tt.want) {
					return
				}
			}
			t.Fatalf("problems %v, want one containing %q", got, tt.want)
		})
	}
}

func with(s Spec, f func(*Spec)) Spec {
	f(&s)
	return s
}

// TestLettersAreTheSDKs: every letter Check accepts, the sas package
// signs; a letter Check refuses, the sas package refuses too. So
// --validate refuses exactly what signing would.
func TestLettersAreTheSDKs(t *testing.T) {
	cred, err := service.NewSharedKeyCredential("acct", "a2V5")
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Unix(2e9, 0)
	sign := map[string]func(perm string) error{
		accountLetters: func(p string) error {
			_, err := sas.AccountSignatureValues{ExpiryTime: exp, Permissions: p, ResourceTypes: "s"}.SignWithSharedKey(cred)
			return err
		},
		containerLetters: func(p string) error {
			_, err := sas.BlobSignatureValues{ExpiryTime: exp, Permissions: p, ContainerName: "c"}.SignWithSharedKey(cred)
			return err
		},
		blobLetters: func(p string) error {
			_, err := sas.BlobSignatureValues{ExpiryTime: exp, Permissions: p, ContainerName: "c", BlobName: "b"}.SignWithSharedKey(cred)
			return err
		},
	}
	for letters, f := range sign {
		for c := 'a'; c <= 'z'; c++ {
			err := f(string(c))
			if ours := strings.ContainsRune(letters, c); ours != (err == nil) {
				t.Errorf("set %q: letter %q accepted by Check %v, by the sas package %v", letters, c, ours, err == nil)
			}
		}
	}
}

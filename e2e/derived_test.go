package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/hashicorp/vault/api"

	"github.com/keysync/keysync/internal/armemu"
	"github.com/keysync/keysync/internal/testenv"
)

// storageAccount is an emulated Storage account whose blob endpoint, as
// ARM's GET answers it, is an Azurite started with its keys.
type storageAccount struct {
	res     armemu.Resource
	path    string
	azurite *testenv.Azurite
}

func newStorageAccount(t *testing.T) storageAccount {
	t.Helper()
	n := seq.Add(1)
	s := storageAccount{res: armemu.Resource{Type: "storage", Subscription: subscription, ResourceGroup: "rg-e2e", Name: fmt.Sprintf("store%d", n)},
		path: fmt.Sprintf("azure/storage/store%d", n)}
	a := emu.Add(s.res)
	az, err := testenv.StartAzurite(t.TempDir(), s.res.Name+":"+a.Keys["key1"]+":"+a.Keys["key2"])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(az.Stop)
	s.azurite = az
	must(t, emu.SetEndpoints(s.res, map[string]string{"blob": az.BlobEndpoint(s.res.Name)}))
	return s
}

// accountTOML is the [[account]] entry of res at path, without its
// settings.
func accountTOML(res armemu.Resource, path string) string {
	return fmt.Sprintf("\n[[account]]\ntype = %q\nsubscription_id = %q\nresource_group = %q\nname = %q\npath = %q\n",
		res.Type, res.Subscription, res.ResourceGroup, res.Name, path)
}

// sasPath is the own path of the account's blob SAS.
func (s storageAccount) sasPath() string { return "apps/" + s.res.Name + "/blob-sas" }

// config rotates every 4s and derives a connection string and an account
// SAS at the account's path, and a 30s container SAS at a path of its own.
func (s storageAccount) config() string {
	return config("") + accountTOML(s.res, s.path) + fmt.Sprintf(`rotate_every = "4s"
rotate_grace = "1s"

[[account.derived]]
name = "connection-string"
kind = "storage-connection-string"

[[account.derived]]
name = "sas"
kind = "storage-account-sas"
permissions = "rl"
resource_types = "sco"
expiry = "1h"
http = true

[[account.derived]]
name = "sas"
kind = "storage-service-sas"
permissions = "r"
container = "data"
expiry = "30s"
http = true
path = %q
`, s.sasPath())
}

// vaultString is a string field of the secret at path.
func vaultString(t *testing.T, path, field string) string {
	t.Helper()
	v, _ := fieldOf(t, path, field).(string)
	if v == "" {
		t.Fatalf("secret/%s has no field %s", path, field)
	}
	return v
}

// sasClient is an azblob client that holds only the SAS token.
func (s storageAccount) sasClient(t *testing.T, token string) *azblob.Client {
	t.Helper()
	c, err := azblob.NewClientWithNoCredential(s.azurite.BlobEndpoint(s.res.Name)+"?"+token, nil)
	must(t, err)
	return c
}

// seed creates container data and blob hello.txt through the connection
// string Vault holds.
func (s storageAccount) seed(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	c, err := azblob.NewClientFromConnectionString(vaultString(t, s.path, "connection-string"), nil)
	must(t, err)
	if _, err := c.CreateContainer(ctx, "data", nil); err != nil {
		t.Fatalf("the connection string in Vault does not open the account: %v", err)
	}
	_, err = c.UploadBuffer(ctx, "data", "hello.txt", []byte("hello"), nil)
	must(t, err)
}

// status is the HTTP status of an azblob error, 0 for none.
func status(err error) int {
	var re *azcore.ResponseError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &re):
		return re.StatusCode
	}
	return -1
}

// TestDerivedValuesOpenAzurite: the connection string and both SAS tokens
// keysync wrote to Vault open the account through the real azblob client
// against Azurite; each SAS is refused for what it does not grant and the
// short one after its expiry; a consumer policy reads the SAS path without
// the keys; after a rotation (Azurite restarted with only the new active
// key) everything Vault holds still works, so nothing rests on the
// regenerated key.
func TestDerivedValuesOpenAzurite(t *testing.T) {
	shared(t)
	ctx := t.Context()
	s := newStorageAccount(t)
	cfg := s.config()
	run(t, cfg, "--run-now").expect(t, 0)
	s.seed(t)

	acct := s.sasClient(t, vaultString(t, s.path, "sas"))
	if _, err := acct.NewListContainersPager(nil).NextPage(ctx); err != nil {
		t.Fatalf("the account SAS (rl) does not list containers: %v", err)
	}
	if _, err := acct.CreateContainer(ctx, "other", nil); status(err) != 403 {
		t.Fatalf("the account SAS (rl) created a container: status %d", status(err))
	}
	blobSAS := vaultString(t, s.sasPath(), "sas")
	svc := s.sasClient(t, blobSAS)
	if _, err := svc.DownloadBuffer(ctx, "data", "hello.txt", make([]byte, 5), nil); err != nil {
		t.Fatalf("the container SAS (r) does not read a blob: %v", err)
	}
	if _, err := svc.UploadBuffer(ctx, "data", "new.txt", []byte("x"), nil); status(err) != 403 {
		t.Fatalf("the container SAS (r) wrote a blob: status %d", status(err))
	}
	consumerReadsOnlyTheSAS(t, s)
	expiresOnTime(t, s, blobSAS)

	rotationDue(t, cfg, "key2")
	noDerivedValueIn(t, run(t, cfg, "--dry-run"), s)
	run(t, cfg, "--run-now").expect(t, 0)
	if got := activeOf(t, account{path: s.path}); got != "key2" {
		t.Fatalf("active %q after the rotation, want key2", got)
	}
	for _, p := range []string{s.path, s.sasPath()} {
		for k, v := range readV2(t, p).meta {
			if strings.HasPrefix(k, "derived-") && strings.HasSuffix(k, "-key") && v != "key2" {
				t.Fatalf("secret/%s records %s = %v after the rotation, want key2", p, k, v)
			}
		}
	}
	// Azurite knows the new key2 and a stranger's key: key1, and the
	// regenerated key2 of before, no longer open anything.
	a, _ := emu.Get(s.res)
	must(t, s.azurite.Restart(s.res.Name+":"+a.Keys["key2"]+":"+randomKey(t)))
	s.seed(t)
	if _, err := s.sasClient(t, vaultString(t, s.path, "sas")).NewListContainersPager(nil).NextPage(ctx); err != nil {
		t.Fatalf("the account SAS in Vault after the rotation does not list containers: %v", err)
	}
	// The container SAS lives 30 s (so that its expiry can be watched
	// above): on a loaded machine it may have expired by now, and Azurite
	// would refuse it for that. What must hold is that the rotation
	// re-signed it with the new key2: the sas package signs its own
	// fields again with that key and must get its signature.
	if !signedWith(t, vaultString(t, s.sasPath(), "sas"), s.res.Name, a.Keys["key2"], "data") {
		t.Fatal("the container SAS in Vault after the rotation is not signed with the new active key2")
	}
}

// signedWith reports whether token, a container SAS of container in
// account, is signed with key: the SDK's sas package signs the token's
// own fields again and must get the token's signature.
func signedWith(t *testing.T, token, account, key, container string) bool {
	t.Helper()
	v, err := url.ParseQuery(token)
	must(t, err)
	qp := sas.NewQueryParameters(v, false)
	cred, err := azblob.NewSharedKeyCredential(account, key)
	must(t, err)
	again, err := sas.BlobSignatureValues{Version: qp.Version(), Protocol: qp.Protocol(), StartTime: qp.StartTime(), ExpiryTime: qp.ExpiryTime(),
		Permissions: qp.Permissions(), ContainerName: container, IPRange: qp.IPRange()}.SignWithSharedKey(cred)
	must(t, err)
	return qp.Signature() != "" && again.Signature() == qp.Signature()
}

// consumerReadsOnlyTheSAS: a token whose policy grants the SAS path alone
// reads the SAS and is refused the account's keys.
func consumerReadsOnlyTheSAS(t *testing.T, s storageAccount) {
	t.Helper()
	name := fmt.Sprintf("sas-reader-%d", seq.Add(1))
	must(t, vault.Client.Sys().PutPolicy(name, fmt.Sprintf(`path "secret/data/%s" { capabilities = ["read"] }`, s.sasPath())))
	tok, err := vault.Client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{name}})
	must(t, err)
	c, err := vault.Client.Clone()
	must(t, err)
	c.SetToken(tok.Auth.ClientToken)
	if _, err := c.KVv2("secret").Get(t.Context(), s.sasPath()); err != nil {
		t.Fatalf("the consumer cannot read the SAS path: %v", err)
	}
	if _, err := c.KVv2("secret").Get(t.Context(), s.path); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("the consumer read the account's keys (err %v)", err)
	}
}

// expiresOnTime: the 30s SAS is refused once its se has passed, and not
// before it (a second's slack for Azurite's clock reading).
func expiresOnTime(t *testing.T, s storageAccount, token string) {
	t.Helper()
	ctx := t.Context()
	q, err := url.ParseQuery(token)
	must(t, err)
	se, err := time.Parse(time.RFC3339, q.Get("se"))
	must(t, err)
	svc := s.sasClient(t, token)
	eventually(t, time.Until(se)+time.Minute, func() (bool, string) {
		_, err := svc.DownloadBuffer(ctx, "data", "hello.txt", make([]byte, 5), nil)
		if err == nil {
			return false, "the SAS to be refused after its expiry " + se.String()
		}
		if time.Now().Before(se.Add(-time.Second)) {
			t.Fatalf("the SAS was refused before its expiry %v: %v", se, err)
		}
		return status(err) == 403, fmt.Sprintf("a 403 after the expiry, got %v", err)
	})
}

func randomKey(t *testing.T) string {
	t.Helper()
	b := make([]byte, 64)
	_, err := rand.Read(b)
	must(t, err)
	return base64.StdEncoding.EncodeToString(b)
}

// noDerivedValueIn fails when a run's output holds a derived value Vault
// holds, or a SAS's signature; the message names neither.
func noDerivedValueIn(t *testing.T, r result, s storageAccount) {
	t.Helper()
	out := r.stdout + r.stderr
	for _, p := range [][2]string{{s.path, "sas"}, {s.path, "connection-string"}, {s.sasPath(), "sas"}} {
		v := vaultString(t, p[0], p[1])
		q, _ := url.ParseQuery(v)
		if strings.Contains(out, v) || (q.Get("sig") != "" && strings.Contains(out, q.Get("sig"))) {
			t.Fatalf("the dry run's output holds the value of %s at %s", p[1], p[0])
		}
	}
	if !strings.Contains(r.stdout, "rotate: regenerate key2") {
		t.Fatalf("the dry run plans no rotation:\n%s", r.stdout)
	}
}

// TestDerivedOwnPathFromDiscovery: a [[discover]] block's container SAS
// goes to the path its derived template makes of each account found; a
// consumer whose Vault policy grants that one rendered path reads the
// SAS, is refused the keys, and the SAS opens the container in Azurite
// (read, not write).
func TestDerivedOwnPathFromDiscovery(t *testing.T) {
	shared(t)
	ctx := t.Context()
	s := newStorageAccount(t)
	tag := fmt.Sprintf("own%d", seq.Add(1))
	must(t, emu.SetTags(s.res, map[string]string{"keysync-own": tag}))
	cfg := config("") + fmt.Sprintf(`
[[discover]]
name = %q
type = "storage"
subscriptions = [%q]
tags = { keysync-own = %q }
path = "azure/storage/{name}"

[[discover.derived]]
name = "connection-string"
kind = "storage-connection-string"

[[discover.derived]]
name = "sas"
kind = "storage-service-sas"
permissions = "rl"
container = "data"
expiry = "1h"
http = true
path = "apps/{name}/blob-sas"
`, "own-"+tag, s.res.Subscription, tag)
	run(t, cfg, "--run-now").expect(t, 0)
	s.seed(t)
	consumerReadsOnlyTheSAS(t, s)
	svc := s.sasClient(t, vaultString(t, s.sasPath(), "sas"))
	if _, err := svc.DownloadBuffer(ctx, "data", "hello.txt", make([]byte, 5), nil); err != nil {
		t.Fatalf("the discovered account's container SAS does not read a blob: %v", err)
	}
	if _, err := svc.UploadBuffer(ctx, "data", "new.txt", []byte("x"), nil); status(err) != 403 {
		t.Fatalf("the container SAS (rl) wrote a blob: status %d", status(err))
	}
}

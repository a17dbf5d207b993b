package runner

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keysync/keysync/config"
	"github.com/keysync/keysync/internal/armemu"
	"github.com/keysync/keysync/internal/testenv"
	"github.com/keysync/keysync/secret"
	"github.com/keysync/keysync/sinks"
	"github.com/keysync/keysync/sinks/vault"
	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sources/azure"
	"github.com/keysync/keysync/sync/account"
	"github.com/keysync/keysync/sync/plan"
)

// The runner is tested with its real parts: the Azure source against the
// emulator over TLS and the Vault sink against a dev server.
var (
	dev            *testenv.Vault
	emu            *testenv.Emulator
	src            *azure.Source
	seq            atomic.Int64
	trustingClient *http.Client
)

const sub = "22222222-3333-4444-5555-666666666666"

// The real tier starts on first use, so that the fast tier (-short) runs
// with no Vault binary at all.
var (
	realOnce sync.Once
	realErr  error
	realDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if dev != nil {
		dev.Stop()
	}
	if emu != nil {
		emu.Close()
	}
	os.RemoveAll(realDir)
	os.Exit(code)
}

// needReal starts the real Vault and the emulator for a test of the real
// tier, once; under -short that tier does not run.
func needReal(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("real tier (Vault dev server and ARM emulator): runs without -short, as in CI")
	}
	realOnce.Do(func() { realErr = startReal() })
	if realErr != nil {
		t.Fatal(realErr)
	}
}

func startReal() error {
	var err error
	if realDir, err = os.MkdirTemp("", "runner-test-"); err != nil {
		return err
	}
	if dev, err = testenv.StartVault(); err != nil {
		return err
	}
	if emu, err = testenv.StartEmulator(realDir); err != nil {
		return err
	}
	if err := errors.Join(os.Setenv("IDENTITY_ENDPOINT", emu.IdentityEndpoint()), os.Setenv("IDENTITY_HEADER", emu.IdentityHeader)); err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(emu.CACertPEM())
	trustingClient = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 16}}
	src, err = azure.New(azure.Options{Azure: config.Azure{Endpoint: emu.URL(), Credential: config.CredentialManagedIdentity,
		Timeout: config.Duration{Duration: 30 * time.Second}}, Transport: trustingClient})
	return err
}

func newSink(t *testing.T) *vault.Sink {
	t.Helper()
	c, err := vault.NewClient(vault.ClientOptions{Address: dev.Addr})
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(testenv.RootToken)
	s, err := vault.Open(context.Background(), c, vault.Options{Mount: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newJobs(n int) []account.Job {
	jobs := make([]account.Job, n)
	for i := range jobs {
		k := seq.Add(1)
		a := sources.Account{SubscriptionID: sub, ResourceGroup: "rg", Name: fmt.Sprintf("run%d", k)}
		emu.Add(armemu.Resource{Subscription: a.SubscriptionID, ResourceGroup: a.ResourceGroup, Name: a.Name})
		jobs[i] = account.Job{Account: a, Path: fmt.Sprintf("runner/%s", a.Name)}
	}
	return jobs
}

// countingSource wraps the real source to see how many fetches overlap.
// A fetch waits until `meet` fetches have been in at once, so that they
// meet however slowly the machine starts them.
type countingSource struct {
	sources.Source
	m    *meter
	meet int
}

func (c *countingSource) Fetch(ctx context.Context, a sources.Account) (secret.Fields, error) {
	c.m.enter("fetch")
	defer c.m.leave("fetch")
	c.m.wait(func() bool { return c.m.max["fetch"] >= c.meet })
	return c.Source.Fetch(ctx, a)
}

// TestConcurrencyIsBounded: the real source's fetches overlap up to
// Concurrency and no more; the emulator's latency keeps each in flight
// long enough for a fourth to show.
func TestConcurrencyIsBounded(t *testing.T) {
	needReal(t)
	emu.SetLatency(50 * time.Millisecond)
	defer emu.SetLatency(0)
	cs := &countingSource{Source: src, m: newMeter(), meet: 3}
	r := &Runner{Source: cs, Sink: newSink(t), Concurrency: 3, Retry: DefaultRetry}
	results := r.Run(context.Background(), newJobs(12))
	for _, res := range results {
		if res.Err != nil || res.Change.Action != plan.Create {
			t.Fatalf("%s: %v %v", res.Job.Account.Name, res.Change.Action, res.Err)
		}
	}
	if n := cs.m.max["fetch"]; n != 3 {
		t.Fatalf("at most %d fetches overlapped, want exactly 3", n)
	}
}

// racingSink is the real sink, with another writer that changes the secret
// between keysync's read and its first write.
type racingSink struct {
	*vault.Sink
	t    *testing.T
	once sync.Once
}

func (s *racingSink) Write(ctx context.Context, path string, w sinks.Write) error {
	s.once.Do(func() {
		if _, err := dev.Client.KVv2("secret").Patch(ctx, path, map[string]any{"owner": "racer"}); err != nil {
			s.t.Errorf("racing write: %v", err)
		}
	})
	return s.Sink.Write(ctx, path, w)
}

// TestConflictReplans: a CAS conflict makes the runner re-read and re-plan;
// the racing writer's field survives and the keys land.
func TestConflictReplans(t *testing.T) {
	needReal(t)
	sink := newSink(t)
	job := newJobs(1)[0]
	r := &Runner{Source: src, Sink: sink, Retry: DefaultRetry}
	if res := r.Run(context.Background(), []account.Job{job})[0]; res.Err != nil {
		t.Fatal(res.Err)
	}
	if _, err := emu.Regenerate(armemu.Resource{Subscription: sub, ResourceGroup: "rg", Name: job.Account.Name}, "primary"); err != nil {
		t.Fatal(err)
	}
	r.Sink = &racingSink{Sink: sink, t: t}
	res := r.Run(context.Background(), []account.Job{job})[0]
	if res.Err != nil || res.Change.Action != plan.Update || res.Attempts != 1 {
		t.Fatalf("result %v %v after %d attempts", res.Change.Action, res.Err, res.Attempts)
	}
	got, err := dev.Client.KVv2("secret").Get(context.Background(), job.Path)
	if err != nil {
		t.Fatal(err)
	}
	acct, _ := emu.Get(armemu.Resource{Subscription: sub, ResourceGroup: "rg", Name: job.Account.Name})
	if got.VersionMetadata.Version != 3 || got.Data["owner"] != "racer" || got.Data["primary"] != acct.Keys["primary"] {
		t.Fatalf("version %d, owner %v, primary current %t", got.VersionMetadata.Version, got.Data["owner"], got.Data["primary"] == acct.Keys["primary"])
	}
}

package runner

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keysync/keysync/armemu"
	"github.com/keysync/keysync/internal/testenv"
	"github.com/keysync/keysync/secret"
	"github.com/keysync/keysync/sinks/vault"
	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sources/azure"
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

func TestMain(m *testing.M) { os.Exit(setup(m)) }

func setup(m *testing.M) int {
	dir, _ := os.MkdirTemp("", "runner-test-")
	defer os.RemoveAll(dir)
	var err error
	if dev, err = testenv.StartVault(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer dev.Stop()
	if emu, err = testenv.StartEmulator(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer emu.Close()
	os.Setenv("IDENTITY_ENDPOINT", emu.IdentityEndpoint())
	os.Setenv("IDENTITY_HEADER", emu.IdentityHeader)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(emu.CACertPEM())
	trustingClient = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 16}}
	if src, err = azure.New(azure.Options{Endpoint: emu.URL(), Credential: azure.CredentialManagedIdentity, Timeout: 5 * time.Second, Transport: trustingClient}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

func newSink(t *testing.T) *vault.Sink {
	t.Helper()
	c, err := vault.NewClient(vault.ClientOptions{Address: dev.Addr})
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(testenv.RootToken)
	s, err := vault.New(context.Background(), c, "secret", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newJobs(n int) []Job {
	jobs := make([]Job, n)
	for i := range jobs {
		k := seq.Add(1)
		a := sources.Account{SubscriptionID: sub, ResourceGroup: "rg", Name: fmt.Sprintf("run%d", k)}
		emu.Add(armemu.Resource{Subscription: a.SubscriptionID, ResourceGroup: a.ResourceGroup, Name: a.Name})
		jobs[i] = Job{Account: a, Path: fmt.Sprintf("runner/%s", a.Name), APIVersion: "2024-02-01"}
	}
	return jobs
}

// countingSource wraps the real source to see how many fetches overlap.
type countingSource struct {
	Source
	mu            sync.Mutex
	inFlight, max int
}

func (c *countingSource) Fetch(ctx context.Context, a sources.Account) (secret.Fields, error) {
	c.mu.Lock()
	c.inFlight++
	c.max = max(c.max, c.inFlight)
	c.mu.Unlock()
	defer func() { c.mu.Lock(); c.inFlight--; c.mu.Unlock() }()
	return c.Source.Fetch(ctx, a)
}

func TestConcurrencyIsBounded(t *testing.T) {
	emu.SetLatency(50 * time.Millisecond)
	defer emu.SetLatency(0)
	cs := &countingSource{Source: src}
	r := &Runner{Source: cs, Sink: newSink(t), Concurrency: 3, Retry: DefaultRetry}
	results := r.Run(context.Background(), newJobs(12))
	for _, res := range results {
		if res.Err != nil || res.Change.Action != plan.Create {
			t.Fatalf("%s: %v %v", res.Job.Account.Name, res.Change.Action, res.Err)
		}
	}
	if cs.max != 3 {
		t.Fatalf("at most %d fetches overlapped, want exactly 3", cs.max)
	}
}

// racingSink is the real sink, with another writer that changes the secret
// between keysync's read and its first write.
type racingSink struct {
	*vault.Sink
	t    *testing.T
	once sync.Once
}

func (s *racingSink) Apply(ctx context.Context, path string, cur plan.Current, ch plan.Change) error {
	s.once.Do(func() {
		if _, err := dev.Client.KVv2("secret").Patch(ctx, path, map[string]any{"owner": "racer"}); err != nil {
			s.t.Errorf("racing write: %v", err)
		}
	})
	return s.Sink.Apply(ctx, path, cur, ch)
}

// TestConflictReplans: a CAS conflict makes the runner re-read and re-plan;
// the racing writer's field survives and the keys land.
func TestConflictReplans(t *testing.T) {
	sink := newSink(t)
	job := newJobs(1)[0]
	r := &Runner{Source: src, Sink: sink, Retry: DefaultRetry}
	if res := r.Run(context.Background(), []Job{job})[0]; res.Err != nil {
		t.Fatal(res.Err)
	}
	emu.Regenerate(armemu.Resource{Subscription: sub, ResourceGroup: "rg", Name: job.Account.Name}, "primary")
	r.Sink = &racingSink{Sink: sink, t: t}
	res := r.Run(context.Background(), []Job{job})[0]
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

// TestCancelledRunReportsEveryJob: a cancelled context ends the run and
// every job still gets a result.
func TestCancelledRunReportsEveryJob(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := &Runner{Source: src, Sink: newSink(t), Concurrency: 1, Retry: DefaultRetry}
	results := r.Run(ctx, newJobs(4))
	for _, res := range results {
		if res.Err == nil {
			t.Fatalf("%s succeeded after cancel", res.Job.Account.Name)
		}
	}
}

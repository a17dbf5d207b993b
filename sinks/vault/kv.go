package vault

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"
	"golang.org/x/sync/singleflight"

	"github.com/keysync/keysync/fault"
	"github.com/keysync/keysync/secret"
	"github.com/keysync/keysync/sinks"
)

// Sink reads and writes secrets under one KV mount.
type Sink struct {
	client *api.Client
	mount  string
	want   int      // kv_version as configured; 0: Vault says
	probes []string // account paths a KV probe may read
	auth   *Auth    // nil: no recovery from an invalid token

	// checking lets concurrent jobs share one mount check, made outside
	// any lock, so that with Vault down N jobs wait one timeout, not N.
	checking singleflight.Group
	mu       sync.Mutex
	version  int // 0 until the mount has been checked
}

// Options says which mount a Sink writes to.
type Options struct {
	// Mount is the KV engine's mount path.
	Mount string
	// KVVersion is 1 or 2 as configured, or 0 to take Vault's word.
	KVVersion int
	// Auth, when not nil, is asked for a new token when Vault answers 403
	// to a token that is no longer valid; the request is then tried once
	// more.
	Auth *Auth
	// ProbePaths are secret paths the token may read, for the KV probe
	// made when it cannot read the mount's type (see checkMount).
	ProbePaths []string
	// Deferred skips the check now (keysync has no token yet); it is made
	// before the first read.
	Deferred bool
}

// Open returns a Sink for o.Mount once Vault has shown that it is a KV
// engine (of version o.KVVersion, when set). A mount that is not KV, or
// whose type the token cannot learn, is an error now, before anything is
// read or written. When Vault cannot answer yet (sealed, unreachable) the
// Sink is still returned and checks again before its first read, so a
// daemon starts while Vault is down.
func Open(ctx context.Context, client *api.Client, o Options) (*Sink, error) {
	if o.KVVersion < 0 || o.KVVersion > 2 {
		return nil, fmt.Errorf("vault mount %q: unsupported KV version %d", o.Mount, o.KVVersion)
	}
	s := &Sink{client: client, mount: strings.Trim(o.Mount, "/"), want: o.KVVersion, probes: o.ProbePaths, auth: o.Auth}
	if o.Deferred {
		return s, nil
	}
	if _, err := s.kvVersion(ctx); err != nil && !fault.Transient(err) {
		return nil, err
	}
	return s, nil
}

// KVVersion is the mount's KV version as Vault showed it (or as
// kv_version declared it, when the token cannot read the mount's type);
// 0 while the mount is not checked yet.
func (s *Sink) KVVersion() int { return s.knownVersion() }

// knownVersion is the KV version of the mount, 0 while it is not checked yet.
func (s *Sink) knownVersion() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version
}

// kvVersion returns the mount's version, checking the mount first if it
// has not been checked yet. Callers that arrive during a check share it;
// each still stops waiting when its own ctx ends.
func (s *Sink) kvVersion(ctx context.Context) (int, error) {
	if v := s.knownVersion(); v != 0 {
		return v, nil
	}
	ch := s.checking.DoChan("mount", func() (any, error) {
		// Not bound to the first caller's ctx: the others share the
		// answer. The client's timeout bounds it.
		v, err := checkMount(context.WithoutCancel(ctx), s.client, s.mount, s.want, s.probes)
		if err == nil {
			s.mu.Lock()
			s.version = v
			s.mu.Unlock()
		}
		return v, err
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return 0, r.Err
		}
		return r.Val.(int), nil
	case <-ctx.Done():
		return 0, classify(opCheckMount, s.mount, ctx.Err())
	}
}

// Check asks Vault whether keysync's token is valid (auth/token/lookup-self),
// for readiness.
func (s *Sink) Check(ctx context.Context) error {
	if _, err := s.client.Auth().Token().LookupSelfWithContext(ctx); err != nil {
		return classify("lookup-self", "auth/token", err)
	}
	return nil
}

// withToken runs op, and once more after a new token if Vault said 403 and
// Auth found the token invalid.
func (s *Sink) withToken(ctx context.Context, op func() error) error {
	if s.auth == nil {
		return op()
	}
	gen := s.auth.Generation()
	err := op()
	if isForbidden(err) && s.auth.Recover(ctx, gen) {
		return op()
	}
	return err
}

func isForbidden(err error) bool {
	var se *sinks.Error
	return errors.As(err, &se) && se.StatusCode == http.StatusForbidden
}

// Read returns what the mount holds at path.
func (s *Sink) Read(ctx context.Context, path string) (cur sinks.State, err error) {
	err = s.withToken(ctx, func() error {
		cur, err = s.read(ctx, path)
		return err
	})
	return cur, err
}

func (s *Sink) read(ctx context.Context, path string) (sinks.State, error) {
	v, err := s.kvVersion(ctx)
	if err != nil {
		return sinks.State{}, err
	}
	if v == 1 {
		return s.readV1(ctx, path)
	}
	return s.readV2(ctx, path)
}

func (s *Sink) readV1(ctx context.Context, path string) (sinks.State, error) {
	sec, err := s.client.Logical().ReadWithContext(ctx, s.mount+"/"+path)
	if err != nil {
		return sinks.State{}, classify("read", path, err)
	}
	if sec == nil || sec.Data == nil {
		return sinks.State{}, nil
	}
	return sinks.State{Exists: true, Data: secret.NewData(sec.Data)}, nil
}

// readV2 reads the latest version in one request: KV v2 answers a data
// read with the version's metadata and the secret's custom_metadata too
// (vault-plugin-secrets-kv v0.21.0, Vault 1.19.0's, path_data.go
// pathDataRead), and a deleted or destroyed version with that metadata
// under a 404. A 404 without a body means no version: nothing to read
// whose it is, and a create checks and sets against version 0 (see write
// for the custom_metadata of a metadata entry that has no version).
func (s *Sink) readV2(ctx context.Context, path string) (sinks.State, error) {
	sec, err := s.client.Logical().ReadWithContext(ctx, s.mount+"/data/"+path)
	if err != nil {
		return sinks.State{}, classify("read", path, err)
	}
	cur := sinks.State{Versioned: true}
	if sec == nil || sec.Data == nil {
		return cur, nil
	}
	meta, _ := sec.Data["metadata"].(map[string]any)
	cur.Version = intOf(meta["version"])
	cur.Metadata = stringMap(meta["custom_metadata"])
	if data, ok := sec.Data["data"].(map[string]any); ok {
		cur.Exists = true
		cur.Data = secret.NewData(data)
		cur.Created = createdTime(meta["created_time"])
	}
	return cur, nil
}

// createdTime reads the version's created_time, which Vault sets on each
// data write and answers with every read of the data, as RFC 3339 with
// nanoseconds (developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2,
// "Read secret version"); zero when it is missing or does not parse,
// which keysync takes as "unknown".
func createdTime(v any) time.Time {
	s, _ := v.(string)
	if len(s) > len(time.RFC3339Nano)+8 {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

func intOf(v any) int {
	switch n := v.(type) {
	case json.Number:
		i, _ := n.Int64()
		return int(i)
	case float64:
		return int(n)
	case int:
		return n
	}
	return 0
}

func stringMap(v any) map[string]string {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, val := range m {
		if s, ok := val.(string); ok {
			out[k] = s
		}
	}
	return out
}

// classify turns a Vault client error into a *sinks.Error: 429, 5xx (a
// sealed Vault answers 503), 412 (a standby catching up) and transport
// errors are transient; everything else will not pass by waiting.
func classify(op, path string, err error) error {
	e := &sinks.Error{Op: op, Path: path, Err: err, Transient: true}
	var unknownCA x509.UnknownAuthorityError
	var badHost x509.HostnameError
	switch {
	case errors.As(err, &unknownCA):
		e.Transient = false
		e.Err = fmt.Errorf("%w (Vault's certificate is not signed by a CA keysync trusts: set ca_cert or VAULT_CACERT)", err)
	case errors.As(err, &badHost):
		e.Transient = false
		e.Err = fmt.Errorf("%w (set tls_server_name to a name in Vault's certificate)", err)
	}
	var re *api.ResponseError
	if errors.As(err, &re) {
		e.StatusCode = re.StatusCode
		e.Transient = re.StatusCode == http.StatusTooManyRequests || re.StatusCode == http.StatusPreconditionFailed || re.StatusCode >= 500
		msgs := make([]string, 0, len(re.Errors))
		for _, m := range re.Errors {
			msgs = append(msgs, cleanMessage(m))
		}
		e.Err = errors.New(strings.Join(msgs, "; "))
	}
	return e
}

// multiErrorRE matches the "1 error occurred:" head of Vault's
// go-multierror messages.
var multiErrorRE = regexp.MustCompile(`^\d+ errors? occurred:\s*`)

// cleanMessage folds one of Vault's error messages onto a single line:
// "1 error occurred:\n\t* permission denied\n\n" becomes "permission denied".
func cleanMessage(m string) string {
	m = multiErrorRE.ReplaceAllString(strings.TrimSpace(m), "")
	m = strings.ReplaceAll(m, "\n\t* ", "; ")
	m = strings.TrimPrefix(m, "* ")
	return strings.Join(strings.Fields(m), " ")
}

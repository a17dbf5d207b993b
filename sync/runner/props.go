package runner

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/keysync/keysync/secret"
	"github.com/keysync/keysync/sync/account"
)

// Bounds of the properties a runner remembers from the accounts' GETs:
// at most MaxProps accounts, each read again after PropsTTL. An hour is
// discover_every's default, so a listed account's endpoints are as fresh
// as a discovered one's, which its discovery's answer gives
// (account.Job.Props).
const (
	MaxProps = 100_000
	PropsTTL = time.Hour
)

// propCache holds the properties a runner read with accounts' GETs, by
// account key. An entry holds only while the account's keys are those
// read beside it: an account deleted and made again under the same id
// has new keys, and perhaps new endpoints (a DNS zone's), so keysync
// never carries a cached value across that change. A failed sync forgets
// the account's entry (Runner.Sync): a failure may be the account
// changing. The zero value is ready.
type propCache struct {
	mu sync.Mutex
	m  map[string]propEntry
}

// propEntry is one account's properties, when they were read, and a
// digest of the keys read with them.
type propEntry struct {
	props map[string]string
	keys  [16]byte
	at    time.Time
}

// get returns key's properties when they were read less than PropsTTL
// before now with the same keys.
func (c *propCache) get(key string, keys [16]byte, now time.Time) (map[string]string, bool) {
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if !ok || e.keys != keys || now.Sub(e.at) >= PropsTTL || now.Before(e.at) {
		return nil, false
	}
	return e.props, true
}

// put remembers key's properties; a full cache starts over.
func (c *propCache) put(key string, e propEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= MaxProps {
		c.m = map[string]propEntry{}
	}
	c.m[key] = e
}

// forget drops key's properties.
func (c *propCache) forget(key string) {
	c.mu.Lock()
	delete(c.m, key)
	c.mu.Unlock()
}

// len is how many accounts' properties c holds.
func (c *propCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// keysDigest is a SHA-256, cut to 16 bytes, of the keys' names and
// values, each after its length: what an entry is bound to, never the
// keys themselves.
func keysDigest(keys secret.Fields) [16]byte {
	h := sha256.New()
	for _, name := range keys.Names() {
		v := keys[name].Reveal()
		_, _ = h.Write(strconv.AppendInt(nil, int64(len(name)), 10))
		_, _ = h.Write([]byte(":" + name + ":" + strconv.Itoa(len(v)) + ":" + v))
	}
	return [16]byte(h.Sum(nil))
}

// properties are what the job's connection strings name of its account:
// those its discovery's answer gave (job.Props), else those its GET
// answered within PropsTTL with the same keys, else its GET's answer now.
func (r *Runner) properties(ctx context.Context, job account.Job, keys secret.Fields) (map[string]string, error) {
	if job.Props != nil {
		return job.Props, nil
	}
	key, sum, now := job.Account.Key(), keysDigest(keys), r.now()
	if p, ok := r.props.get(key, sum, now); ok {
		return p, nil
	}
	pr, ok := r.Source.(PropertyReader)
	if !ok {
		return nil, errors.New("the source reads no resource properties, which this connection string needs")
	}
	p, err := boundedCall(ctx, r, job.Account, pr.Properties)
	if err != nil {
		return nil, fmt.Errorf("reading the account's properties: %w", err)
	}
	r.props.put(key, propEntry{props: p, keys: sum, at: now})
	return p, nil
}

// Package config loads keysync's TOML file: defaults first, then the file,
// then a check for unknown keys, then validation that reports every problem
// at once.
package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/keysync/keysync/secret"
	"github.com/keysync/keysync/sources"
)

// Config is the whole file.
type Config struct {
	Schedule      string   `toml:"schedule"`
	Concurrency   int      `toml:"concurrency"`
	Retries       int      `toml:"retries"`
	SyncOnStart   bool     `toml:"sync_on_start"`
	Splay         Duration `toml:"splay"`
	BackoffBase   Duration `toml:"backoff_base"`
	BackoffMax    Duration `toml:"backoff_max"`
	ShutdownGrace Duration `toml:"shutdown_grace"`
	Listen        string   `toml:"listen"`
	// AccountMetrics says when /metrics has a series per account:
	// "auto" (the default) up to metrics.MaxAccountSeries accounts,
	// "on" at any size, "off" never; the estate's totals are there
	// always.
	AccountMetrics string    `toml:"account_metrics"`
	Shard          string    `toml:"shard"`
	Azure          Azure     `toml:"azure"`
	Vault          Vault     `toml:"vault"`
	API            API       `toml:"api"`
	Events         Events    `toml:"events"`
	Accounts       []Account `toml:"account"`
	// Discovery is the engine of [[discover]] blocks: "resource-graph"
	// or "arm-list"; DiscoverEvery how often they run again in the
	// daemon; MaxRemovedFraction the most of its high-water mark that a
	// block, or all together, may lose within RemovalWindow; DeleteAfter
	// how long a secret marked gone waits before on_removed = "delete"
	// deletes it.
	Discovery          string     `toml:"discovery"`
	DiscoverEvery      Duration   `toml:"discover_every"`
	MaxRemovedFraction float64    `toml:"max_removed_fraction"`
	RemovalWindow      Duration   `toml:"removal_window"`
	DeleteAfter        Duration   `toml:"delete_after"`
	Discover           []Discover `toml:"discover"`
}

// Azure is the [azure] section. sources/azure takes it as it is (see
// azure.Options), so a key added here reaches the source with no copying.
type Azure struct {
	Cloud      string   `toml:"cloud"`
	Endpoint   string   `toml:"endpoint"`
	Audience   string   `toml:"audience"`
	APIVersion string   `toml:"api_version"`
	Credential string   `toml:"credential"`
	ClientID   string   `toml:"client_id"`
	Timeout    Duration `toml:"timeout"`
	// RequestsPerSecond and Burst are ARM's write bucket per subscription,
	// which keysync paces itself to; 0 requests_per_second turns it off.
	RequestsPerSecond float64 `toml:"requests_per_second"`
	Burst             int     `toml:"burst"`
	// SubscriptionConcurrency bounds keys calls in flight per
	// subscription; 0 leaves only the global bound.
	SubscriptionConcurrency int `toml:"subscription_concurrency"`
}

// Vault is the [vault] section.
type Vault struct {
	Address   string   `toml:"address"`
	Mount     string   `toml:"mount"`
	KVVersion int      `toml:"kv_version"`
	Namespace string   `toml:"namespace"`
	Timeout   Duration `toml:"timeout"`
	// Concurrency bounds requests in flight to Vault; 0 leaves only the
	// global bound.
	Concurrency int `toml:"concurrency"`
	// TLS, as in Vault Agent's vault stanza. Empty fields leave the
	// matching VAULT_* environment variable in force.
	CACert     string    `toml:"ca_cert"`
	CAPath     string    `toml:"ca_path"`
	ClientCert string    `toml:"client_cert"`
	ClientKey  string    `toml:"client_key"`
	ServerName string    `toml:"tls_server_name"`
	SkipVerify bool      `toml:"tls_skip_verify"`
	Auth       VaultAuth `toml:"auth"`
	// LegacyOwnership lets keysync write a KV v2 secret that carries
	// managed-by=keysync in its metadata but not its data mark (written
	// before data marks; the write adds the mark). False refuses such a
	// secret unless the account sets adopt: a writer of the metadata alone
	// can forge that metadata mark.
	LegacyOwnership bool `toml:"legacy_ownership"`
}

// VaultAuth is the [vault.auth] section. sinks/vault takes it as it is (see
// vault.AuthOptions).
type VaultAuth struct {
	Method string `toml:"method"`
	// MountPath is where the auth method is mounted; the method's name
	// when empty.
	MountPath string `toml:"mount_path"`
	// token
	TokenFile string `toml:"token_file"`
	// approle
	RoleID       string `toml:"role_id"`
	RoleIDFile   string `toml:"role_id_file"`
	SecretIDFile string `toml:"secret_id_file"`
	// SecretID inline is accepted only in a file no one else can read.
	SecretID        secret.Value `toml:"secret_id"`
	SecretIDWrapped bool         `toml:"secret_id_wrapped"`
	// kubernetes, jwt, azure
	Role string `toml:"role"`
	// kubernetes
	TokenPath string `toml:"token_path"`
	// jwt
	JWTFile string `toml:"jwt_file"`
	// azure
	Resource          string `toml:"resource"`
	SubscriptionID    string `toml:"subscription_id"`
	ResourceGroupName string `toml:"resource_group_name"`
	VMName            string `toml:"vm_name"`
	VMSSName          string `toml:"vmss_name"`
	ResourceID        string `toml:"resource_id"`
}

// Account is one [[account]] entry.
type Account struct {
	SubscriptionID string `toml:"subscription_id"`
	ResourceGroup  string `toml:"resource_group"`
	Name           string `toml:"name"`
	Path           string `toml:"path"`
	// Type is a key of sources.Types; "batch" when empty.
	Type string `toml:"type"`
	// Settings are the per-account settings a [[discover]] block gives
	// what it finds too.
	Settings
	// Label names the account in metrics and logs: its name, or
	// resource_group/name when two accounts share a name. Set by Load.
	Label string `toml:"-"`
}

// Source is the account as sources names it.
func (a Account) Source() sources.Account {
	return sources.Account{SubscriptionID: a.SubscriptionID, ResourceGroup: a.ResourceGroup, Name: a.Name,
		Type: a.Type, Rule: a.Rule, APIVersion: a.APIVersion}
}

// EffectiveSchedule is the account's own schedule, else the default.
func (a Account) EffectiveSchedule(def string) string {
	if a.Schedule != "" {
		return a.Schedule
	}
	return def
}

// Duration is a time.Duration written as a Go duration string ("30s").
type Duration struct{ time.Duration }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("not a duration (such as 30s or 5m): %q", string(b))
	}
	d.Duration = v
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Defaults returns the configuration an empty file gives.
func Defaults() Config {
	return Config{
		Schedule:      "@every 1h",
		Concurrency:   8,
		Retries:       3,
		SyncOnStart:   true,
		BackoffBase:   Duration{30 * time.Second},
		BackoffMax:    Duration{30 * time.Minute},
		ShutdownGrace: Duration{30 * time.Second},
		Listen:        "127.0.0.1:10719",
		Azure: Azure{
			Cloud:      CloudPublic,
			APIVersion: sources.Types[sources.DefaultType].APIVersion,
			Credential: CredentialDefault,
			Timeout:    Duration{30 * time.Second},
			// ARM's documented write bucket: 200 at once, 10 a second.
			RequestsPerSecond: 10,
			Burst:             200,
		},
		AccountMetrics:     AccountMetricsAuto,
		API:                DefaultAPI(),
		Events:             DefaultEvents(),
		Discovery:          DiscoveryResourceGraph,
		DiscoverEvery:      Duration{time.Hour},
		MaxRemovedFraction: 0.2,
		RemovalWindow:      Duration{24 * time.Hour},
		DeleteAfter:        Duration{7 * 24 * time.Hour},
		Vault: Vault{
			Mount: "secret",
			// Timeout 0: VAULT_CLIENT_TIMEOUT, else the client's 30 s.
			Auth: VaultAuth{Method: AuthToken},
			// Secrets written before data marks keep syncing after an
			// upgrade.
			LegacyOwnership: true,
		},
	}
}

// Load reads, decodes and validates the file at path. Its error lists the
// problems found, one a line (the first MaxProblemsListed of them). The
// file must be a regular file of at most MaxFileSize bytes. A file that
// holds a secret inline must pass secret.CheckFileMode: readable by its
// owner only, or also by a group keysync runs in (root:keysync 0640).
func Load(path string) (*Config, error) {
	text, fi, err := readFile(path)
	if err != nil {
		return nil, err
	}
	cfg, err := Parse(text)
	if err != nil {
		return nil, err
	}
	if cfg.Vault.Auth.SecretID.IsZero() {
		return cfg, nil
	}
	if err := secret.CheckFileMode("the config file", cut(path, maxKeyLen), fi); err != nil {
		return nil, Problems{{Key: "vault.auth.secret_id", Msg: "is a secret held inline, but " + err.Error() + "; or move the secret to secret_id_file"}}
	}
	return cfg, nil
}

// readFile reads a regular file of at most MaxFileSize bytes, and returns
// its text and permission bits. A FIFO, device or directory is refused
// before it is opened, since reading one may block or never end; the size
// is bounded while reading, since a file can grow after its stat.
func readFile(path string) (string, os.FileInfo, error) {
	if fi, err := os.Stat(path); err != nil {
		return "", nil, fmt.Errorf("reading config: %w", err)
	} else if !fi.Mode().IsRegular() {
		return "", nil, Problems{{Key: "file", Msg: fmt.Sprintf("is not a regular file (%s)", fi.Mode().Type())}}
	}
	f, err := os.Open(path)
	if err != nil {
		return "", nil, fmt.Errorf("reading config: %w", err)
	}
	defer f.Close() //nolint:errcheck // read only: closing cannot lose data
	fi, err := f.Stat()
	if err != nil {
		return "", nil, fmt.Errorf("reading config: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", nil, Problems{{Key: "file", Msg: fmt.Sprintf("is not a regular file (%s)", fi.Mode().Type())}}
	}
	var b strings.Builder
	b.Grow(int(min(fi.Size(), MaxFileSize) + 1))
	if _, err := io.Copy(&b, io.LimitReader(f, MaxFileSize+1)); err != nil {
		return "", nil, fmt.Errorf("reading config: %w", err)
	}
	if b.Len() > MaxFileSize {
		return "", nil, errTooLarge
	}
	return b.String(), fi, nil
}

// errTooLarge refuses a file over MaxFileSize.
var errTooLarge = Problems{{Key: "file", Msg: fmt.Sprintf("is larger than %d MiB", MaxFileSize>>20)}}

// Parse decodes and validates a configuration held in memory. Text too
// large, nested too deep or holding too many values is refused before it
// is decoded (see MaxFileSize, MaxDepth and MaxValues).
func Parse(text string) (*Config, error) {
	accounts, err := checkShape(text)
	if err != nil {
		return nil, err
	}
	cfg, probs, err := decode(text, accounts, accountsPerDecode)
	if err != nil {
		return nil, err
	}
	probs = append(probs, cfg.validate()...)
	if len(probs) > 0 {
		return nil, probs
	}
	cfg.normalize()
	return cfg, nil
}

// normalize sets what Load derives: labels, paths without their outer
// slashes, the default rotation grace.
func (c *Config) normalize() {
	c.setLabels()
	c.Vault.Mount = trimSlash(c.Vault.Mount)
	for i := range c.Accounts {
		a := &c.Accounts[i]
		a.Path = trimSlash(a.Path)
		for j := range a.Derived {
			a.Derived[j].Path = trimSlash(a.Derived[j].Path)
		}
		if a.RotateEvery.Duration > 0 && a.RotateGrace.Duration == 0 {
			a.RotateGrace = Duration{24 * time.Hour}
		}
	}
	// A template's paths, like an account's, without the outer slashes
	// (Vault drops them too): a recall matches the paths Vault lists
	// against the template's exactly.
	for i := range c.Discover {
		c.Discover[i].Path = trimSlash(c.Discover[i].Path)
	}
}

// decodeError turns the decoder's error into a Problem that names the key
// and line where the decoder gives them. The decoder stops at its first
// error, so this is one problem; validation then reports all of its own.
func decodeError(err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		key := fmt.Sprintf("line %d", pe.Position.Line)
		if pe.LastKey != "" {
			key = fmt.Sprintf("%s (line %d)", cut(pe.LastKey, maxKeyLen), pe.Position.Line)
		}
		return Problems{{Key: key, Msg: cut(unquote(pe.Message), maxMsgLen)}}
	}
	if m := typeErrorRE.FindStringSubmatch(cut(err.Error(), maxMsgLen)); m != nil {
		return Problems{{Key: fmt.Sprintf("%s (line %s)", m[2], m[1]), Msg: m[3]}}
	}
	return Problems{{Key: "file", Msg: cut(unquote(strings.TrimPrefix(err.Error(), "toml: ")), maxMsgLen)}}
}

// quotedRE is a double-quoted run in a decoder message.
var quotedRE = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// unquote hides what the decoder quotes from the file: for a mistyped
// value (secret_id = abc... without its quotes, a bad escape inside one)
// that is the value itself, which may be a secret. The key and the line
// still say where the problem is.
func unquote(msg string) string {
	return quotedRE.ReplaceAllString(msg, `"..."`)
}

// typeErrorRE reads the decoder's type mismatch message.
var typeErrorRE = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]+)"\): (?:incompatible types: )?(.*)$`)

// setLabels gives each account its metric label: the name, unless another
// account shares it, then resource_group/name, then the full triple.
func (c *Config) setLabels() {
	count := map[string]int{}
	for _, a := range c.Accounts {
		count[strings.ToLower(a.baseLabel())]++
		count[strings.ToLower(a.ResourceGroup+"/"+a.baseLabel())]++
	}
	for i := range c.Accounts {
		a := &c.Accounts[i]
		switch {
		case count[strings.ToLower(a.baseLabel())] == 1:
			a.Label = a.baseLabel()
		case count[strings.ToLower(a.ResourceGroup+"/"+a.baseLabel())] == 1:
			a.Label = a.ResourceGroup + "/" + a.baseLabel()
		default:
			a.Label = a.SubscriptionID + "/" + a.ResourceGroup + "/" + a.baseLabel()
		}
	}
}

// baseLabel is the name, with the rule for types that have one.
func (a Account) baseLabel() string {
	if a.Rule != "" {
		return a.Name + "/" + a.Rule
	}
	return a.Name
}

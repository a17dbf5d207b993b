package config

import (
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/robfig/cron/v3"

	"github.com/keysync/keysync/sources"
)

var (
	guidRE       = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	apiVersionRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}(-preview)?$`)
	// apiVersionExample shows the form in messages: the default type's.
	apiVersionExample = sources.Types[sources.DefaultType].APIVersion

	// ScheduleParser is the cron dialect keysync accepts: five fields, six
	// with leading seconds, descriptors such as @every 1h, and CRON_TZ=.
	ScheduleParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
)

func (c *Config) validate() Problems {
	var p Problems
	checkSchedule(&p, "schedule", c.Schedule)
	if c.Concurrency < 1 || c.Concurrency > 256 {
		p.add("concurrency", "must be between 1 and 256, got %d", c.Concurrency)
	}
	if c.Retries < 0 || c.Retries > 10 {
		p.add("retries", "must be between 0 and 10, got %d", c.Retries)
	}
	c.validateDaemon(&p)
	c.Azure.validate(&p)
	c.Vault.validate(&p)
	c.API.validate(&p)
	c.Events.validate(&p, c.Listen, c.Azure.Cloud)
	validateAccounts(&p, c.Accounts, c.Vault.Mount, len(c.Discover) > 0)
	c.validateDiscovery(&p)
	c.validateRotationMount(&p)
	return p
}

// Values of account_metrics.
const (
	AccountMetricsAuto = "auto"
	AccountMetricsOn   = "on"
	AccountMetricsOff  = "off"
)

func (c *Config) validateDaemon(p *Problems) {
	oneOf(p, "account_metrics", c.AccountMetrics, []string{AccountMetricsAuto, AccountMetricsOn, AccountMetricsOff})
	if c.Splay.Duration < 0 {
		p.add("splay", "must not be negative")
	}
	if c.BackoffBase.Duration <= 0 {
		p.add("backoff_base", "must be positive")
	}
	if c.BackoffMax.Duration < c.BackoffBase.Duration {
		p.add("backoff_max", "must be at least backoff_base (%s), got %s", c.BackoffBase, c.BackoffMax)
	}
	if c.ShutdownGrace.Duration <= 0 {
		p.add("shutdown_grace", "must be positive")
	}
	if c.Shard != "" {
		if _, err := ParseShard(c.Shard); err != nil {
			p.add("shard", "%v", err)
		}
	}
	checkListen(p, c.Listen)
}

// checkListen accepts host:port where the host is an IP literal,
// "localhost" or empty (every address), and the port a number from 0 to
// 65535; an empty listen turns the endpoints off. A host name other than
// localhost would make the address depend on DNS at every start.
func checkListen(p *Problems, listen string) {
	if listen == "" {
		return
	}
	host, port, err := net.SplitHostPort(listen)
	switch {
	case err != nil || port == "":
		p.add("listen", "must be host:port (such as 127.0.0.1:10719) or empty to disable, got %q", listen)
	case host != "" && host != "localhost" && !isIP(host):
		p.add("listen", "host must be an IP address, localhost or empty (every address), got %q", host)
	case !isPort(port):
		p.add("listen", "port must be a number from 0 to 65535, got %q", port)
	}
}

// isIP reports whether host is an IPv4 or IPv6 literal.
func isIP(host string) bool {
	_, err := netip.ParseAddr(host)
	return err == nil
}

// isPort reports whether port is a decimal number from 0 to 65535 (no
// sign, no service name).
func isPort(port string) bool {
	_, err := strconv.ParseUint(port, 10, 16)
	return err == nil
}

func checkSchedule(p *Problems, key, spec string) {
	if _, err := ScheduleParser.Parse(spec); err != nil {
		p.add(key, "invalid schedule %q: %v", spec, err)
		return
	}
	// robfig/cron quietly turns "@every -1m" or "@every 10ms" into one
	// second; a schedule that fast is a mistake, not a wish.
	if every, ok := strings.CutPrefix(spec, "@every "); ok {
		if d, err := time.ParseDuration(every); err != nil || d < time.Second {
			p.add(key, "invalid schedule %q: @every needs a duration of at least 1s", spec)
		}
	}
}

func (a *Azure) validate(p *Problems) {
	oneOf(p, "azure.cloud", a.Cloud, CloudNames)
	oneOf(p, "azure.credential", a.Credential, CredentialKinds)
	checkURL(p, "azure.endpoint", a.Endpoint)
	checkURL(p, "azure.audience", a.Audience)
	if !apiVersionRE.MatchString(a.APIVersion) {
		p.add("azure.api_version", "must look like %s, got %q", apiVersionExample, a.APIVersion)
	}
	if a.ClientID != "" && !guidRE.MatchString(a.ClientID) {
		p.add("azure.client_id", "must be a GUID, got %q", a.ClientID)
	}
	if a.Timeout.Duration <= 0 {
		p.add("azure.timeout", "must be positive")
	}
	if a.RequestsPerSecond < 0 {
		p.add("azure.requests_per_second", "must not be negative (0 turns pacing off)")
	}
	if a.RequestsPerSecond > 0 && a.Burst < 1 {
		p.add("azure.burst", "must be at least 1 when requests_per_second is set")
	}
	if a.SubscriptionConcurrency < 0 {
		p.add("azure.subscription_concurrency", "must not be negative")
	}
}

func (v *Vault) validate(p *Problems) {
	checkURL(p, "vault.address", v.Address)
	if checkVaultPath(p, "vault.mount", v.Mount) {
		if first, _, _ := strings.Cut(trimSlash(v.Mount), "/"); slices.Contains(reservedMounts, first) {
			p.add("vault.mount", "%q is Vault's own mount, not a KV secrets engine", first)
		}
	}
	if v.KVVersion < 0 || v.KVVersion > 2 {
		p.add("vault.kv_version", "must be 0 (detect), 1 or 2, got %d", v.KVVersion)
	}
	if v.Timeout.Duration < 0 {
		p.add("vault.timeout", "must not be negative (0 leaves VAULT_CLIENT_TIMEOUT, else 30s)")
	}
	if v.Concurrency < 0 {
		p.add("vault.concurrency", "must not be negative")
	}
	if (v.ClientCert == "") != (v.ClientKey == "") {
		p.add("vault.client_cert", "client_cert and client_key go together")
	}
	v.Auth.validate(p)
}

// authKeys lists, for each method, the keys that belong to it; any other
// method-specific key set with that method is a mistake worth reporting.
var authKeys = map[string][]string{
	AuthToken:      {"token_file"},
	AuthAppRole:    {"mount_path", "role_id", "role_id_file", "secret_id", "secret_id_file", "secret_id_wrapped"},
	AuthKubernetes: {"mount_path", "role", "token_path"},
	AuthJWT:        {"mount_path", "role", "jwt_file"},
	AuthAzure:      {"mount_path", "role", "resource", "subscription_id", "resource_group_name", "vm_name", "vmss_name", "resource_id"},
}

func (a *VaultAuth) validate(p *Problems) {
	oneOf(p, "vault.auth.method", a.Method, AuthMethods)
	set := a.setKeys()
	for _, k := range slices.Sorted(maps.Keys(set)) {
		if !slices.Contains(authKeys[a.Method], k) {
			p.add("vault.auth."+k, "does not apply to method %q", a.Method)
		}
	}
	switch a.Method {
	case AuthAppRole:
		if (a.RoleID == "") == (a.RoleIDFile == "") {
			p.add("vault.auth.role_id", "set exactly one of role_id and role_id_file")
		}
		if a.SecretIDWrapped && a.SecretIDFile == "" && a.SecretID.IsZero() {
			p.add("vault.auth.secret_id_wrapped", "needs secret_id_file or secret_id")
		}
		if a.SecretIDFile != "" && !a.SecretID.IsZero() {
			p.add("vault.auth.secret_id", "set secret_id or secret_id_file, not both")
		}
	case AuthKubernetes, AuthJWT, AuthAzure:
		if a.Role == "" {
			p.add("vault.auth.role", "is required for method %q", a.Method)
		}
	}
	if a.Method == AuthJWT && a.JWTFile == "" {
		p.add("vault.auth.jwt_file", "is required for method \"jwt\"")
	}
	if a.Method == AuthAzure && a.VMName != "" && a.VMSSName != "" {
		p.add("vault.auth.vm_name", "set vm_name or vmss_name, not both")
	}
	checkURL(p, "vault.auth.resource", a.Resource)
	if a.MountPath != "" {
		checkVaultPath(p, "vault.auth.mount_path", a.MountPath)
	}
}

// reservedMounts are Vault's own mounts, which no KV engine can be at.
var reservedMounts = []string{"sys", "auth", "identity", "cubbyhole"}

// setKeys names the method-specific keys that are set.
func (a *VaultAuth) setKeys() map[string]bool {
	all := map[string]bool{
		"mount_path": a.MountPath != "", "token_file": a.TokenFile != "",
		"role_id": a.RoleID != "", "role_id_file": a.RoleIDFile != "", "secret_id_file": a.SecretIDFile != "",
		"secret_id":         !a.SecretID.IsZero(),
		"secret_id_wrapped": a.SecretIDWrapped, "role": a.Role != "", "token_path": a.TokenPath != "",
		"jwt_file": a.JWTFile != "", "resource": a.Resource != "", "subscription_id": a.SubscriptionID != "",
		"resource_group_name": a.ResourceGroupName != "", "vm_name": a.VMName != "", "vmss_name": a.VMSSName != "",
		"resource_id": a.ResourceID != "",
	}
	for k, v := range all {
		if !v {
			delete(all, k)
		}
	}
	return all
}

func validateAccounts(p *Problems, accounts []Account, mount string, discovers bool) {
	if len(accounts) == 0 && !discovers {
		p.add("account", "no [[account]] or [[discover]] entries: nothing to sync")
	}
	ids := map[string]int{}
	paths := map[string]int{}
	for i, a := range accounts {
		key := fmt.Sprintf("account[%d]", i)
		a.validate(p, key)
		if n := len(trimSlash(mount)) + 1 + len(trimSlash(a.Path)); n > MaxVaultPath && len(a.Path) <= MaxVaultPath {
			p.add(key+".path", "with the mount makes %d bytes, more than %d", n, MaxVaultPath)
		}
		// The resource's identity, as ARM compares ids (without building
		// one: this runs for every account of a file that may hold 10,000).
		id := strings.ToLower(a.SubscriptionID + "/" + a.ResourceGroup + "/" + a.Source().Spec().Provider + "/" + a.Name + "/" + a.Rule)
		if j, dup := ids[id]; dup {
			p.add(key, "same account as account[%d] (%s/%s)", j, a.ResourceGroup, a.Name)
		} else {
			ids[id] = i
		}
		path := trimSlash(a.Path)
		if j, dup := paths[path]; dup && path != "" {
			p.add(key+".path", "same Vault path as account[%d]: %q", j, path)
		} else {
			paths[path] = i
		}
	}
}

func (a *Account) validate(p *Problems, key string) {
	if !guidRE.MatchString(a.SubscriptionID) {
		p.add(key+".subscription_id", "must be a GUID such as 00000000-0000-0000-0000-000000000000, got %q", a.SubscriptionID)
	}
	if !sources.ValidResourceGroup(a.ResourceGroup) {
		p.add(key+".resource_group", "must be 1-90 letters, digits, '_', '-', '.', '(' or ')', not ending in '.', got %q", a.ResourceGroup)
	}
	a.validateType(p, key)
	checkVaultPath(p, key+".path", a.Path)
	if a.Schedule != "" {
		checkSchedule(p, key+".schedule", a.Schedule)
	}
}

func (a *Account) validateType(p *Problems, key string) {
	typ := a.Type
	if typ == "" {
		typ = sources.DefaultType
	}
	t, ok := sources.Types[typ]
	if !ok {
		p.add(key+".type", "must be one of %s, got %q", strings.Join(sources.TypeNames(), ", "), a.Type)
		return
	}
	if !t.ValidName(a.Name) {
		p.add(key+".name", "must be %d-%d characters matching %s for type %s, got %q", t.MinLen, t.MaxLen, t.NameRE, typ, a.Name)
	}
	a.Settings.validate(p, key, typ, "")
	a.validateDerived(p, key, typ, a.Path, false)
}

// MaxVaultPath bounds a secret's path with its mount, in bytes. Vault
// itself bounds only the storage key, which adds the mount's UUID and KV
// v2's prefixes (32,768 bytes in integrated storage: bbolt's MaxKeySize,
// checked in Vault's physical/raft/raft.go); 512 stays far inside every
// backend's limit and keeps log lines and reports readable.
const MaxVaultPath = 512

// checkVaultPath holds a Vault mount or secret path to one normal form:
// segments of the characters a URL path carries as they are (RFC 3986
// pchar) other than '%' (escapes), '+' and '*' (policy wildcards), no
// empty, '.' or '..' segment, at most MaxVaultPath bytes. One leading and
// one trailing slash are allowed and dropped. It reports whether the path
// passed.
func checkVaultPath(p *Problems, key, path string) bool {
	trimmed := trimSlash(path)
	var bad string
	switch {
	case trimmed == "":
		p.add(key, "must not be empty")
		return false
	case len(path) > MaxVaultPath:
		bad = fmt.Sprintf("must be at most %d bytes (is %d)", MaxVaultPath, len(path))
	case strings.IndexFunc(trimmed, notPathChar) >= 0:
		r, _ := utf8.DecodeRuneInString(trimmed[strings.IndexFunc(trimmed, notPathChar):])
		bad = fmt.Sprintf("may hold only letters, digits, '/' and any of %s (found %q)", pathPunct, r)
	case strings.HasPrefix(trimmed, "/") || strings.HasSuffix(trimmed, "/") || strings.Contains(trimmed, "//"):
		bad = "must not contain empty segments (a double slash)"
	case slices.Contains(strings.Split(trimmed, "/"), ".."), slices.Contains(strings.Split(trimmed, "/"), "."):
		bad = "must not contain '.' or '..' segments"
	}
	if bad != "" {
		p.add(key, "%s, got %q", bad, path)
	}
	return bad == ""
}

// CheckVaultPath reports what is wrong with a secret's path under mount,
// as the file's own paths are checked: for paths made at run time (a
// discovered account's).
func CheckVaultPath(mount, path string) error {
	var p Problems
	if checkVaultPath(&p, "path", path) {
		if n := len(trimSlash(mount)) + 1 + len(trimSlash(path)); n > MaxVaultPath {
			p.add("path", "with the mount makes %d bytes, more than %d", n, MaxVaultPath)
		}
	}
	if len(p) > 0 {
		return p
	}
	return nil
}

// pathPunct is the punctuation allowed in a Vault path.
const pathPunct = "-._~!$&'(),;=:@"

// notPathChar reports whether r may not appear in a Vault path.
func notPathChar(r rune) bool {
	if r >= utf8.RuneSelf {
		return true
	}
	ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '/' || strings.ContainsRune(pathPunct, r)
	return !ok
}

// trimSlash drops one leading and one trailing slash.
func trimSlash(s string) string {
	return strings.TrimSuffix(strings.TrimPrefix(s, "/"), "/")
}

func oneOf(p *Problems, key, v string, allowed []string) {
	if !slices.Contains(allowed, v) {
		p.add(key, "must be one of %s, got %q", strings.Join(allowed, ", "), v)
	}
}

func checkURL(p *Problems, key, v string) {
	if v == "" {
		return
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		p.add(key, "must be an absolute http(s) URL, got %q", v)
	}
}

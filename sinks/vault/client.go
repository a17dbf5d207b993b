// Package vault is the sink that keeps keys in a HashiCorp Vault KV secrets
// engine, version 1 or 2, through github.com/hashicorp/vault/api, and logs
// in to Vault and keeps keysync's token alive.
package vault

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/hashicorp/vault/api"
)

// ClientOptions overrides what api.DefaultConfig reads from the environment
// (VAULT_ADDR, VAULT_CACERT, VAULT_NAMESPACE, ...). Empty fields leave the
// environment's value in place.
type ClientOptions struct {
	Address   string
	Namespace string
	// Timeout bounds one request. Zero leaves VAULT_CLIENT_TIMEOUT in
	// force, or DefaultTimeout when that is unset too.
	Timeout time.Duration
	TLS     TLSOptions
	// Observe, when set, hears every request to Vault: what it was for and
	// its HTTP status, or "error" when none came back.
	Observe func(op, code string)
	Logger  *slog.Logger
	// Connections is how many idle keep-alive connections to keep to Vault;
	// set it to the concurrency. 0 keeps the api package's default.
	Connections int
}

// DefaultTimeout bounds one Vault request when neither the file nor
// VAULT_CLIENT_TIMEOUT says otherwise.
const DefaultTimeout = 30 * time.Second

// TLSOptions are the file's TLS settings; each empty one falls back to its
// VAULT_* variable.
type TLSOptions struct {
	CACert, CAPath, ClientCert, ClientKey, ServerName string
	SkipVerify                                        bool
}

func (t TLSOptions) isSet() bool {
	return t != TLSOptions{}
}

// NewClient builds a Vault client: environment first, then the file. It
// sets no token: see Auth.
func NewClient(o ClientOptions) (*api.Client, error) {
	cfg := api.DefaultConfig()
	if cfg.Error != nil {
		return nil, fmt.Errorf("vault client config from environment: %w", cfg.Error)
	}
	if o.Address != "" {
		cfg.Address = o.Address
	}
	switch {
	case o.Timeout > 0:
		cfg.Timeout = o.Timeout
	case os.Getenv(api.EnvVaultClientTimeout) == "":
		// The api package's own default is 60 s; keysync's is shorter, so a
		// hung Vault costs a cycle less.
		cfg.Timeout = DefaultTimeout
	}
	if o.TLS.isSet() {
		if err := cfg.ConfigureTLS(mergeTLS(o.TLS)); err != nil {
			return nil, fmt.Errorf("vault TLS: %w", err)
		}
	}
	if tr, ok := cfg.HttpClient.Transport.(*http.Transport); ok && o.Connections > 0 {
		tr.MaxIdleConnsPerHost = o.Connections
	}
	// keysync's runner owns every retry, so that a sealed or overloaded
	// Vault sees one paced retry from keysync, not one from each layer.
	cfg.MaxRetries = 0
	client, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("vault client: %w", err)
	}
	// The token comes from Auth, never implicitly from VAULT_TOKEN here.
	client.ClearToken()
	if tr, ok := cfg.HttpClient.Transport.(*http.Transport); ok && tr.TLSClientConfig != nil && tr.TLSClientConfig.InsecureSkipVerify && o.Logger != nil {
		o.Logger.Warn("VAULT TLS VERIFICATION IS OFF (tls_skip_verify or VAULT_SKIP_VERIFY): anyone on the path to Vault can read and change the keys keysync writes")
	}
	if o.Namespace != "" {
		client.SetNamespace(o.Namespace)
	}
	if o.Observe != nil {
		// Wrapped only now: the api package configures TLS and unix
		// sockets on the *http.Transport, during DefaultConfig and NewClient.
		cfg.HttpClient.Transport = observingTransport{base: cfg.HttpClient.Transport, observe: o.Observe}
	}
	return client, nil
}

// mergeTLS starts from the VAULT_* variables and lets the file win.
func mergeTLS(t TLSOptions) *api.TLSConfig {
	pick := func(file, env string) string {
		if file != "" {
			return file
		}
		return os.Getenv(env)
	}
	skip := t.SkipVerify
	if v, err := strconv.ParseBool(os.Getenv(api.EnvVaultSkipVerify)); err == nil && v {
		skip = true
	}
	return &api.TLSConfig{
		CACert:        pick(t.CACert, api.EnvVaultCACert),
		CAPath:        pick(t.CAPath, api.EnvVaultCAPath),
		ClientCert:    pick(t.ClientCert, api.EnvVaultClientCert),
		ClientKey:     pick(t.ClientKey, api.EnvVaultClientKey),
		TLSServerName: pick(t.ServerName, api.EnvVaultTLSServerName),
		Insecure:      skip,
	}
}

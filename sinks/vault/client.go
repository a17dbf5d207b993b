// Package vault is the sink that keeps keys in a HashiCorp Vault KV secrets
// engine, version 1 or 2, through github.com/hashicorp/vault/api.
package vault

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"
)

// ClientOptions overrides what api.DefaultConfig reads from the environment
// (VAULT_ADDR, VAULT_CACERT, VAULT_TOKEN, VAULT_NAMESPACE, ...). Empty fields
// leave the environment's value in place.
type ClientOptions struct {
	Address   string
	Namespace string
	// TokenFile holds the token; else VAULT_TOKEN.
	TokenFile string
	// Timeout bounds one request.
	Timeout time.Duration
	// Observe, when set, hears every request to Vault: what it was for and
	// its HTTP status, or "error" when none came back.
	Observe func(op, code string)
}

// NewClient builds a Vault client: environment first, then the file.
func NewClient(o ClientOptions) (*api.Client, error) {
	cfg := api.DefaultConfig()
	if cfg.Error != nil {
		return nil, fmt.Errorf("vault client config from environment: %w", cfg.Error)
	}
	if o.Address != "" {
		cfg.Address = o.Address
	}
	if o.Timeout > 0 {
		cfg.Timeout = o.Timeout
	}
	// keysync's runner owns every retry, so that a sealed or overloaded
	// Vault sees one paced retry from keysync, not one from each layer.
	cfg.MaxRetries = 0
	client, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("vault client: %w", err)
	}
	if o.Observe != nil {
		// Wrapped only now: the api package configures TLS and unix
		// sockets on the *http.Transport, during DefaultConfig and NewClient.
		cfg.HttpClient.Transport = observingTransport{base: cfg.HttpClient.Transport, observe: o.Observe}
	}
	if o.Namespace != "" {
		client.SetNamespace(o.Namespace)
	}
	if o.TokenFile != "" {
		tok, err := readToken(o.TokenFile)
		if err != nil {
			return nil, err
		}
		client.SetToken(tok)
	}
	if client.Token() == "" {
		return nil, fmt.Errorf("no vault token: set VAULT_TOKEN or [vault.auth] token_file")
	}
	return client, nil
}

func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("vault token_file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("vault token_file %s is empty", path)
	}
	return tok, nil
}

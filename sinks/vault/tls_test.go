package vault

import (
	"context"
	"strings"
	"testing"

	"github.com/keysync/keysync/internal/testenv"
)

// TestTLS: against a -dev-tls server, ca_cert makes the client trust it,
// VAULT_CACERT does the same, the file wins over the variable, and without
// either the certificate is refused.
func TestTLS(t *testing.T) {
	needVault(t)
	v, err := testenv.StartVaultTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer v.Stop()
	lookup := func(o ClientOptions) error {
		o.Address = v.Addr
		c, err := NewClient(o)
		if err != nil {
			return err
		}
		c.SetToken(testenv.RootToken)
		_, err = Open(context.Background(), c, Options{Mount: "secret"})
		return err
	}
	t.Setenv("VAULT_CACERT", "")
	if err := lookup(ClientOptions{}); err == nil || !strings.Contains(err.Error(), "set ca_cert or VAULT_CACERT") {
		t.Fatalf("untrusted certificate: want a clear error, got %v", err)
	}
	if err := lookup(ClientOptions{TLS: TLSOptions{CACert: v.CACert}}); err != nil {
		t.Fatalf("ca_cert: %v", err)
	}
	if err := lookup(ClientOptions{TLS: TLSOptions{CACert: v.CACert, ServerName: "localhost"}}); err != nil {
		t.Fatalf("ca_cert with tls_server_name localhost: %v", err)
	}
	if err := lookup(ClientOptions{TLS: TLSOptions{CACert: v.CACert, ServerName: "elsewhere.example"}}); err == nil || !strings.Contains(err.Error(), "tls_server_name") {
		t.Fatalf("a wrong tls_server_name: want a clear error, got %v", err)
	}
	t.Setenv("VAULT_CACERT", v.CACert)
	if err := lookup(ClientOptions{}); err != nil {
		t.Fatalf("VAULT_CACERT: %v", err)
	}
	if err := lookup(ClientOptions{TLS: TLSOptions{CACert: "/nonexistent/ca.pem"}}); err == nil {
		t.Fatal("the file's ca_cert did not win over VAULT_CACERT")
	}
	t.Setenv("VAULT_CACERT", "")
	if err := lookup(ClientOptions{TLS: TLSOptions{SkipVerify: true}}); err != nil {
		t.Fatalf("tls_skip_verify: %v", err)
	}
}

package vault

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/api/auth/approle"
	"github.com/hashicorp/vault/api/auth/kubernetes"

	"github.com/keysync/keysync/config"
)

// DefaultServiceAccountTokenPath is where Kubernetes mounts a pod's token.
const DefaultServiceAccountTokenPath = "/var/run/secrets/kubernetes.io/serviceaccount/token" //nolint:gosec // G101: a file path, not a credential

// EnvSecretID holds an AppRole secret id when no secret_id_file is set.
const EnvSecretID = "VAULT_SECRET_ID"

// AuthOptions is [vault.auth] as the file gives it (the method is one of
// config.AuthMethods), and what the program wires in beside it.
type AuthOptions struct {
	config.VaultAuth
	// Credential is the Azure identity method azure logs in with: the
	// one that reads the keys.
	Credential azcore.TokenCredential
	// IMDSEndpoint is the instance metadata service's base URL, which
	// method azure asks for the machine's identity when the file names
	// none; the link-local default when empty.
	IMDSEndpoint string
}

// loginMethod builds the api.AuthMethod for o, read afresh at every login
// so that rotated files (secret id, JWT, service-account token) are used.
func loginMethod(o AuthOptions) (api.AuthMethod, error) {
	mount := o.MountPath
	if mount == "" {
		mount = o.Method
	}
	switch o.Method {
	case config.AuthAppRole:
		return appRole(o, mount)
	case config.AuthKubernetes:
		return kubernetesAuth(o, mount)
	case config.AuthJWT:
		return &jwtAuth{mount: mount, role: o.Role, file: o.JWTFile}, nil
	case config.AuthAzure:
		return &azureLogin{o: o, mount: mount}, nil
	}
	return nil, fmt.Errorf("unknown auth method %q", o.Method)
}

// kubernetesAuth reads the service-account token itself, trimmed (the
// client module sends a file's trailing newline along), at every login.
func kubernetesAuth(o AuthOptions, mount string) (api.AuthMethod, error) {
	path := o.TokenPath
	if path == "" {
		path = DefaultServiceAccountTokenPath
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("kubernetes token_path: %w", err)
	}
	jwt := strings.TrimSpace(string(b))
	if jwt == "" {
		return nil, fmt.Errorf("kubernetes token_path %s is empty", path)
	}
	return kubernetes.NewKubernetesAuth(o.Role, kubernetes.WithMountPath(mount), kubernetes.WithServiceAccountToken(jwt))
}

func appRole(o AuthOptions, mount string) (api.AuthMethod, error) {
	roleID := o.RoleID
	if o.RoleIDFile != "" {
		b, err := os.ReadFile(o.RoleIDFile)
		if err != nil {
			return nil, fmt.Errorf("approle role_id_file: %w", err)
		}
		roleID = strings.TrimSpace(string(b))
	}
	secretID := &approle.SecretID{FromEnv: EnvSecretID}
	switch {
	case o.SecretIDFile != "":
		if _, err := checkFileMode("approle secret_id_file", o.SecretIDFile); err != nil {
			return nil, err
		}
		secretID = &approle.SecretID{FromFile: o.SecretIDFile}
	case !o.SecretID.IsZero():
		secretID = &approle.SecretID{FromString: o.SecretID.Reveal()}
	}
	opts := []approle.LoginOption{approle.WithMountPath(mount)}
	if o.SecretIDWrapped {
		opts = append(opts, approle.WithWrappingToken())
	}
	return approle.NewAppRoleAuth(roleID, secretID, opts...)
}

// jwtAuth logs in to Vault's JWT/OIDC method with a JWT read from a file at
// every login (workload-identity federation rewrites it).
type jwtAuth struct {
	mount, role, file string
}

// Login implements api.AuthMethod.
func (j *jwtAuth) Login(ctx context.Context, client *api.Client) (*api.Secret, error) {
	b, err := os.ReadFile(j.file)
	if err != nil {
		return nil, fmt.Errorf("jwt_file: %w", err)
	}
	jwt := strings.TrimSpace(string(b))
	if jwt == "" {
		return nil, fmt.Errorf("jwt_file %s is empty", j.file)
	}
	return client.Logical().WriteWithContext(ctx, "auth/"+j.mount+"/login", map[string]any{"role": j.role, "jwt": jwt})
}

// azureLogin is Vault's Azure auth method: a managed-identity token for
// the configured resource, through the same azidentity credential that
// reads the keys, and the machine's identity from the config or the
// instance metadata service.
type azureLogin struct {
	o     AuthOptions
	mount string
}

var errNoCredential = errors.New("azure auth: no Azure credential")

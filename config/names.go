package config

// The names below are the values the file may give to keys whose meaning
// lives elsewhere: sources/azure maps each cloud to Azure's endpoints and
// builds each credential, sinks/vault logs in with each method. Each list
// is written here once, and those packages read it, so that config need not
// import the code that talks to Azure or Vault.

// Clouds accepted in [azure] cloud.
const (
	CloudPublic       = "AzurePublic"
	CloudChina        = "AzureChina"
	CloudUSGovernment = "AzureUSGovernment"
)

// CloudNames are the accepted [azure] cloud names, in the order people meet
// them.
var CloudNames = []string{CloudPublic, CloudChina, CloudUSGovernment}

// Credential kinds accepted in [azure] credential.
const (
	CredentialDefault          = "default"
	CredentialEnvironment      = "environment"
	CredentialManagedIdentity  = "managed-identity"
	CredentialWorkloadIdentity = "workload-identity"
	CredentialAzureCLI         = "azure-cli"
)

// CredentialKinds are the accepted [azure] credential kinds.
var CredentialKinds = []string{CredentialDefault, CredentialEnvironment, CredentialManagedIdentity, CredentialWorkloadIdentity, CredentialAzureCLI}

// Methods accepted in [vault.auth] method.
const (
	AuthToken      = "token"
	AuthAppRole    = "approle"
	AuthKubernetes = "kubernetes"
	AuthJWT        = "jwt"
	AuthAzure      = "azure"
)

// AuthMethods are the accepted [vault.auth] methods.
var AuthMethods = []string{AuthToken, AuthAppRole, AuthKubernetes, AuthJWT, AuthAzure}

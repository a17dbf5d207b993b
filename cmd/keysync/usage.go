package main

import (
	"flag"
	"fmt"
	"io"
)

// usageHead is the part of --help that flags cannot say: the three ways
// keysync runs, the environment it reads and what its exit codes mean.
const usageHead = `keysync keeps Azure account keys in HashiCorp Vault.

Usage:
  keysync [--config FILE] [flags]          run as a daemon on the configured schedules
  keysync --config FILE --run-now          sync every account once, print a summary, exit
  keysync --config FILE --dry-run          print the masked plan; write nothing
  keysync --config FILE --validate         check the file; touch neither Azure nor Vault
  keysync status [--addr HOST:PORT] [--token-file FILE]
                                           print a running daemon's account status

Three ways to run it: as a systemd service (systemd/keysync.service), as a
container sidecar next to an application (the Dockerfile, deploy/helm), and
once from a pipeline with --run-now.

Flags:
`

// usageTail lists the environment and exit codes.
const usageTail = `
Environment (the config file wins where it sets the same thing):
  VAULT_ADDR, VAULT_TOKEN, VAULT_NAMESPACE, VAULT_CACERT, VAULT_CAPATH,
  VAULT_CLIENT_CERT, VAULT_CLIENT_KEY, VAULT_TLS_SERVER_NAME,
  VAULT_SKIP_VERIFY, VAULT_CLIENT_TIMEOUT   Vault connection and token
  AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_CLIENT_SECRET,
  AZURE_FEDERATED_TOKEN_FILE, AZURE_AUTHORITY_HOST,
  IDENTITY_ENDPOINT, IDENTITY_HEADER        Azure credentials (azidentity)
  SSL_CERT_FILE, SSL_CERT_DIR               extra TLS roots
  NOTIFY_SOCKET, WATCHDOG_USEC, JOURNAL_STREAM   set by systemd

Exit status:
  0  every account is in sync (or: --validate found the file valid)
  1  at least one account failed or was refused; the others were synced
  2  bad flags, a bad config file, or a secret file refused for its owner or mode;
     nothing was read from Azure or written to Vault
  3  could not start (no Vault login, Vault mount refused, cannot listen); nothing was written
`

// writeUsage prints the synopsis, every flag as --flag, the environment
// and the exit codes.
func writeUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, usageHead)
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		fmt.Fprintf(w, "%-28s %s", line, usage)
		if f.DefValue != "" && f.DefValue != "false" {
			fmt.Fprintf(w, " (default %q)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
	fmt.Fprint(w, usageTail)
}

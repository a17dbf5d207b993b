// Command vault is the HashiCorp Vault server, built from Vault's own Go
// module so that keysync's integration tests run against the real thing
// (`vault server -dev` on loopback) without downloading a release binary.
package main

import (
	"os"

	"github.com/hashicorp/vault/command"
)

func main() {
	os.Exit(command.Run(os.Args[1:]))
}

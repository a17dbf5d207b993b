//go:build keysync_memsink

package main

import (
	"log/slog"

	"github.com/keysync/keysync/sinks/memsink"
	"github.com/keysync/keysync/sinks/vault"
)

// benchStore is the process's one store in memory: a reload keeps it, as
// it would keep Vault.
var benchStore = memsink.New()

// init swaps the Vault sink for benchStore in a binary built with
// -tags keysync_memsink (`go run ./bench` builds one for its
// scale-discover cases): Vault's login and mount check still run, every
// read, write and list goes to memory, and nothing survives the process.
func init() {
	swapStore = func(_ *vault.Sink, log *slog.Logger) store {
		log.Warn("built with keysync_memsink: secrets are kept in this process's memory, not in Vault; for benchmarks only")
		return benchStore
	}
}

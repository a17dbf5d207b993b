package vault

import (
	"context"
	"testing"

	"github.com/keysync/keysync/internal/testenv"
	"github.com/keysync/keysync/sinks/sinktest"
)

// TestContract holds the Vault sink to the contract the in-memory sink of
// the fast tier keeps too.
func TestContract(t *testing.T) {
	needVault(t)
	s := newSink(t, "secret", 2)
	sinktest.Run(t, sinktest.Harness{Sink: s, Prefix: "contract",
		Put: func(t *testing.T, path string, data map[string]any) {
			if _, err := client(t, testenv.RootToken).KVv2("secret").Put(context.Background(), path, data); err != nil {
				t.Fatal(err)
			}
		}})
}

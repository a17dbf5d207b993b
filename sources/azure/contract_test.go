package azure

import (
	"testing"

	"github.com/keysync/keysync/internal/armemu"
	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sources/sourcetest"
)

// TestContract holds the Azure source, against the emulator, to the
// contract the in-memory source of the fast tier keeps too.
func TestContract(t *testing.T) {
	emu, o := startEmulator(t)
	sourcetest.Run(t, sourcetest.Harness{Source: newSource(t, o),
		Add: func(_ *testing.T, name string) sources.Account {
			emu.Add(armemu.Resource{Subscription: sub, ResourceGroup: "contract", Name: name})
			return sources.Account{SubscriptionID: sub, ResourceGroup: "contract", Name: name}
		},
		Keys: func(t *testing.T, a sources.Account) map[string]string {
			got, ok := emu.Get(armemu.Resource{Subscription: a.SubscriptionID, ResourceGroup: a.ResourceGroup, Name: a.Name})
			if !ok {
				t.Fatalf("no account %s in the emulator", a.Name)
			}
			return got.Keys
		},
	})
}

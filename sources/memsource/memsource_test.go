package memsource_test

import (
	"testing"

	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sources/memsource"
	"github.com/keysync/keysync/sources/sourcetest"
)

func TestContract(t *testing.T) {
	s := memsource.New()
	sourcetest.Run(t, sourcetest.Harness{Source: s,
		Add: func(_ *testing.T, name string) sources.Account {
			a := sources.Account{SubscriptionID: "sub", ResourceGroup: "rg", Name: name}
			s.Add(a, "primary", "secondary")
			return a
		},
		Keys: func(_ *testing.T, a sources.Account) map[string]string { return s.Keys(a) },
	})
}

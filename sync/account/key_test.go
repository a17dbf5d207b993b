package account

import (
	"testing"

	"github.com/keysync/keysync/sources"
)

// TestKeyIDs: one resource at one path has one ID whatever the case of
// its id; another path, another resource, or a resource and path that
// concatenate alike are another.
func TestKeyIDs(t *testing.T) {
	a := sources.Account{SubscriptionID: "S", ResourceGroup: "RG", Name: "Alpha", Type: "storage"}
	lower := sources.Account{SubscriptionID: "s", ResourceGroup: "rg", Name: "alpha", Type: "storage"}
	base := KeyOf(a, "azure/alpha")
	if KeyOf(lower, "azure/alpha").ID() != base.ID() {
		t.Fatal("a resource id's case changed its ID")
	}
	for _, other := range []Key{
		KeyOf(a, "azure/alpha2"),
		{Resource: base.Resource + "a", Path: "zure/alpha"},
		{Resource: base.Resource, Path: "Azure/alpha"},
	} {
		if other.ID() == base.ID() {
			t.Errorf("%s has the ID of %s", other, base)
		}
	}
	if base.ID().Compare(base.ID()) != 0 || base.ID().Compare(KeyOf(a, "b").ID()) == 0 {
		t.Error("Compare")
	}
}

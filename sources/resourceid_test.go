package sources

import (
	"strings"
	"testing"
)

func TestParseResourceID(t *testing.T) {
	tests := []struct {
		id   string
		want Account
		err  string
	}{
		{id: "/subscriptions/" + subA + "/resourceGroups/Prod-RG/providers/Microsoft.Batch/batchAccounts/acct1",
			want: Account{SubscriptionID: subA, ResourceGroup: "Prod-RG", Name: "acct1", Type: "batch"}},
		{id: "/SUBSCRIPTIONS/" + subA + "/resourcegroups/rg/providers/microsoft.storage/storageaccounts/store1",
			want: Account{SubscriptionID: subA, ResourceGroup: "rg", Name: "store1", Type: "storage"}},
		{id: "/subscriptions/" + subA + "/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1", err: "not one keysync reads"},
		{id: "/subscriptions/" + subA + "/resourceGroups/rg/providers/Microsoft.Batch/batchAccounts/acct1/pools/p", err: "is not a resource id"},
		{id: "/subscriptions/prod/resourceGroups/rg/providers/Microsoft.Batch/batchAccounts/acct1", err: "not a GUID"},
		{id: "/subscriptions/" + subA + "/resourceGroups/rg/providers/Microsoft.Batch/batchAccounts/a%2Fb", err: "not a valid batch name"},
		{id: "/subscriptions/" + subA + "/resourceGroups//providers/Microsoft.Batch/batchAccounts/acct1", err: "empty or badly escaped"},
		{id: "/subscriptions/" + subA + "/resourceGroups/team-b%2Fprod/providers/Microsoft.Batch/batchAccounts/acct1", err: "not a valid resource group name"},
		{id: "/subscriptions/" + subA + "/resourceGroups/rg./providers/Microsoft.Batch/batchAccounts/acct1", err: "not a valid resource group name"},
		{id: "/subscriptions/" + subA + "/resourceGroups/Équipe_(prod)-1.a/providers/Microsoft.Batch/batchAccounts/acct1",
			want: Account{SubscriptionID: subA, ResourceGroup: "Équipe_(prod)-1.a", Name: "acct1", Type: "batch"}},
		{id: strings.Repeat("x", 2000), err: "longer than"},
		{id: "/subscriptions/" + subA + "/resourceGroups/rg/providers/Microsoft.EventHub/namespaces/ns-one/authorizationRules/Root",
			want: Account{SubscriptionID: subA, ResourceGroup: "rg", Name: "ns-one", Type: "eventhubs", Rule: "Root"}},
		{id: "/subscriptions/" + subA + "/resourceGroups/rg/providers/Microsoft.Batch/batchAccounts/acct1/authorizationRules/x", err: "not a resource id keysync reads"},
	}
	for _, tt := range tests {
		got, err := ParseResourceID(tt.id)
		if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Fatalf("ParseResourceID(%.80q) = %v, want %q", tt.id, err, tt.err)
		}
		if err == nil && got != tt.want {
			t.Errorf("ParseResourceID(%.80q) = %+v, want %+v", tt.id, got, tt.want)
		}
	}
}

// TestValidResourceGroup: ARM's rule for resource group names, Unicode
// letters and decimal digits included.
func TestValidResourceGroup(t *testing.T) {
	for rg, ok := range map[string]bool{
		"rg": true, "Prod-RG_(eu).1": true, "日本語": true, "١٢٣": true, strings.Repeat("a", 90): true,
		"": false, strings.Repeat("a", 91): false, "rg.": false, "team-b/prod": false, "a b": false,
		"a\x00b": false, "²": false, "caf\xe9": false, "a#b": false,
	} {
		if got := ValidResourceGroup(rg); got != ok {
			t.Errorf("ValidResourceGroup(%q) = %t, want %t", rg, got, ok)
		}
	}
}

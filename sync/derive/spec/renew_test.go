package spec

import (
	"fmt"
	"testing"
	"time"
)

// TestRenewalsSpread: 100,000 accounts whose 24h SAS were all made in the
// same second renew inside the window (between half and a quarter of the
// life left), and no minute of it takes more than twice its even share.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestRenewalsSpread(t *testing.T) {
	const n = 100_000
	spec := Spec{Name: "sas", Kind: StorageAccountSAS, Expiry: 24 * time.Hour}
	exp := t0.Add(spec.Expiry)
	opens, closes := exp.Add(-12*time.Hour), exp.Add(-6*time.Hour)
	perMinute := map[int64]int{}
	for i := range n {
		at := RenewAt(spec, fmt.Sprintf("/subscriptions/s/resourcegroups/rg/providers/microsoft.storage/storageaccounts/acct%d", i), exp)
		if at.Before(opens) || !at.Before(closes) {
			t.Fatalf("account %d renews at %v, outside [%v, %v)", i, at, opens, closes)
		}
		perMinute[at.Unix()/60]++
	}
	even := n / int((closes.Sub(opens))/time.Minute)
	for m, c := range perMinute {
		if c > 2*even {
			t.Fatalf("minute %v renews %d, more than twice the even share %d", time.Unix(m*60, 0).UTC(), c, even)
		}
	}
}

// TestRenewAtFixedPerAccount: the same account and value renew at the same
// place every time; connection strings never.
func TestRenewAtFixedPerAccount(t *testing.T) {
	spec := Spec{Name: "sas", Kind: StorageAccountSAS, Expiry: time.Hour, RenewBefore: 0.2}
	a, b := RenewAt(spec, "id", t0), RenewAt(spec, "id", t0)
	if !a.Equal(b) || a.Before(t0.Add(-12*time.Minute)) || a.After(t0.Add(-6*time.Minute)) {
		t.Fatalf("renew at %v and %v", a, b)
	}
	if !RenewAt(Spec{Kind: StorageConnectionString}, "id", t0).IsZero() {
		t.Fatal("a connection string renews")
	}
}

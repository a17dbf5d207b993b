package e2e

import (
	"context"
	"slices"
	"testing"
)

// assertTruth fails unless Vault's latest version of each account holds
// the emulator's current keys.
func assertTruth(t *testing.T, accts ...account) {
	t.Helper()
	for _, a := range accts {
		got := readV2(t, a.path)
		p, s := a.keys(t)
		if got == nil || got.data["primary"] != p || got.data["secondary"] != s {
			t.Errorf("%s: Vault does not hold the emulator's current keys", a.name)
		}
	}
}

// assertNoWrongWrites reads every KV version of each account's secret and
// fails if a key field ever held a value the emulator never issued for that
// account.
func assertNoWrongWrites(t *testing.T, accts ...account) {
	t.Helper()
	kv := vaultOf(t).Client.KVv2("secret")
	for _, a := range accts {
		acct, _ := emu.Get(a.res())
		md, err := kv.GetMetadata(context.Background(), a.path)
		if err != nil {
			continue // never written
		}
		for v := 1; v <= md.CurrentVersion; v++ {
			s, err := kv.GetVersion(context.Background(), a.path, v)
			if err != nil || s == nil || s.Data == nil {
				continue // deleted or destroyed
			}
			for _, f := range []string{"primary", "secondary"} {
				val, ok := s.Data[f].(string)
				if ok && !slices.Contains(acct.History, val) {
					t.Errorf("%s version %d: %s holds a value the emulator never issued for this account", a.name, v, f)
				}
			}
		}
	}
}

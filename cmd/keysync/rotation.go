package main

import (
	"github.com/keysync/keysync/config"
	"github.com/keysync/keysync/sync/plan"
)

// rotation is the account's rotation policy: nil when it does not rotate,
// else the period, the grace and the pairs it rotates (rotate_keys, or
// every pair of its type). A type's first pair names its active key in
// plan.FieldActive, another pair in FieldActive+"-"+name.
func rotation(a config.Account) *plan.Rotation {
	if a.RotateEvery.Duration <= 0 {
		return nil
	}
	t := a.Source().Spec()
	names := a.RotateKeys
	if len(names) == 0 {
		names = t.PairNames()
	}
	r := &plan.Rotation{Every: a.RotateEvery.Duration, Grace: a.RotateGrace.Duration}
	for _, name := range names {
		kp, _ := t.Pair(name)
		active := plan.FieldActive
		if kp.Name != t.Rotation.Pairs[0].Name {
			active += "-" + kp.Name
		}
		r.Pairs = append(r.Pairs, plan.Pair{Active: active, Keys: kp.Keys})
	}
	return r
}

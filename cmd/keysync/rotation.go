package main

import (
	"fmt"

	"github.com/keysync/keysync/config"
	"github.com/keysync/keysync/sinks/vault"
	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/account"
	"github.com/keysync/keysync/sync/derive/spec"
	"github.com/keysync/keysync/sync/plan"
)

// rotationMount refuses a config that rotates on a KV version 1 mount:
// rotation keeps its record and times in custom metadata, which KV
// version 1 lacks, so the keys would be synced and never rotated. When
// Vault could not be asked yet (sealed, unreachable), the mount is checked
// at the first read, and each rotating account then reports the problem
// (plan.RotationPlan.Problems) instead.
func rotationMount(cfg *config.Config, sink *vault.Sink) error {
	if sink.KVVersion() != 1 || !cfg.Rotates() {
		return nil
	}
	return fmt.Errorf("vault mount %q is KV version 1, which keeps no metadata: rotate_every cannot work there (nothing would ever be regenerated); "+
		"move the secrets to a KV version 2 mount, or remove rotate_every", cfg.Vault.Mount)
}

// rotation is the rotation policy the settings s give an account of type
// t: nil when it does not rotate, else the period, the grace and the pairs
// it rotates (rotate_keys, or every pair of its type). A type's first pair
// names its active key in plan.FieldActive, another pair in
// FieldActive+"-"+name.
func rotation(s config.Settings, t sources.Type) *plan.Rotation {
	if s.RotateEvery.Duration <= 0 {
		return nil
	}
	names := s.RotateKeys
	if len(names) == 0 {
		names = t.PairNames()
	}
	r := &plan.Rotation{Every: s.RotateEvery.Duration, Grace: s.RotateGrace.Duration}
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

// job is the job of acct at path under the per-account settings s that
// [[account]] and [[discover]] share: the one place they become a job.
func job(acct sources.Account, path string, s config.Settings) account.Job {
	return account.Job{Account: acct, Path: path, Adopt: s.Adopt, Fields: detachedMap(s.Fields), Rotate: rotation(s, acct.Spec()), Derived: derivedSpecs(s)}
}

// derivedSpecs are the settings' derived values, nil for none.
func derivedSpecs(s config.Settings) []spec.Spec {
	if len(s.Derived) == 0 {
		return nil
	}
	out := make([]spec.Spec, len(s.Derived))
	for i, d := range s.Derived {
		out[i] = d.Spec()
	}
	return out
}

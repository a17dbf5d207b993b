package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// TestCollisionSurvivesABlockEdit: a block whose template lacks
// {resource_group} syncs rg-a's account; a contributor of rg-b creates an
// account of the same name with the tag. The operator then edits the block
// in a way that selects the same accounts (has_tags), which changes its
// discovery-scope. A process started anew still tells which claimant was
// there before from keysync's data mark in the secret, which the edit does
// not change: rg-a's account keeps syncing, never rg-b's.
func TestCollisionSurvivesABlockEdit(t *testing.T) {
	shared(t)
	id := ownIdentity()
	sub := freshSubscription()
	victim := tagged(t, sub, "rg-a", "", "true")
	prefix := fmt.Sprintf("edit%d", seq.Add(1))
	path := prefix + "/batch/" + victim.Name
	blk := block("tagged", sub, "true", prefix+"/{type}/{name}", "keep")
	run(t, withClientID(config("")+blk, id), "--run-now").expect(t, 0)
	tagged(t, sub, "rg-b", victim.Name, "true") // the neighbour
	va := account{sub: sub, rg: "rg-a", name: victim.Name}

	edited := withClientID(config("")+strings.Replace(blk, "path =", "has_tags = [\"keysync\"]\npath =", 1), id)
	va.regenerate(t, "primary")
	r := run(t, edited, "--run-now")
	r.expect(t, 1) // the conflict is reported
	if want, _ := va.keys(t); readV2(t, path).data["primary"] != want {
		t.Fatalf("after an edit of the block, rg-a's account stopped syncing (a neighbour's same-named resource took it out):\n%s", r.stdout)
	}
}

// TestCollisionOnKVv1: the same neighbour on a KV version 1 mount, which
// keeps no metadata: the data mark, written on KV v1 too, tells a process
// started anew that rg-a's account was there before.
func TestCollisionOnKVv1(t *testing.T) {
	shared(t)
	sub := freshSubscription()
	victim := tagged(t, sub, "rg-a", "", "true")
	prefix := fmt.Sprintf("v1n%d", seq.Add(1))
	path := prefix + "/batch/" + victim.Name
	cfg := withClientID(config(`mount = "kv1"`)+block("tagged", sub, "true", prefix+"/{type}/{name}", "keep"), ownIdentity())
	run(t, cfg, "--run-now").expect(t, 0)
	tagged(t, sub, "rg-b", victim.Name, "true") // the neighbour
	va := account{sub: sub, rg: "rg-a", name: victim.Name}
	va.regenerate(t, "primary")
	r := run(t, cfg, "--run-now")
	r.expect(t, 1)
	s, err := vault.Client.Logical().Read("kv1/" + path)
	must(t, err)
	if want, _ := va.keys(t); s == nil || s.Data["primary"] != want {
		t.Fatalf("on KV v1, rg-a's account stopped syncing once a neighbour made a same-named resource:\n%s", r.stdout)
	}
}

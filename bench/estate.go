package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/keysync/keysync/sources"

	"github.com/keysync/keysync/internal/armemu"
)

// estateSizes are the account counts a discovery case may ask for. Account
// i of an estate carries the tag upto-<n>=yes for every size n above i, so
// a [[discover]] block selecting upto-<n> finds exactly the first n
// accounts, and every size shares one emulated estate.
var estateSizes = []int{200, 1000, 2000, 10_000, 20_000, 50_000, 100_000, 200_000, 1_000_000}

// estateSub is subscription s of the estate spread over subs subscriptions
// (9 then the count keeps them apart from the per-case subscriptions).
func estateSub(subs, s int) string {
	return fmt.Sprintf("9%07d-0000-4000-8000-%012d", subs, s)
}

// estateAccount is account i of the estate over subs subscriptions.
func estateAccount(subs, i int) armemu.Resource {
	return armemu.Resource{Subscription: estateSub(subs, i%subs), ResourceGroup: "bench", Name: fmt.Sprintf("e%da%d", subs, i)}
}

// estateTags are account i's tags.
func estateTags(i int) map[string]string {
	tags := map[string]string{"keysync": "true"}
	for _, n := range estateSizes {
		if i < n {
			tags[fmt.Sprintf("upto-%d", n)] = "yes"
		}
	}
	return tags
}

// grow makes sure the estate over subs subscriptions holds at least n
// tagged accounts in the emulator.
func (e *env) grow(subs, n int) error {
	if e.estates == nil {
		e.estates = map[int]int{}
	}
	for i := e.estates[subs]; i < n; i++ {
		r := estateAccount(subs, i)
		e.emu.Add(r)
		if err := e.emu.SetTags(r, estateTags(i)); err != nil {
			return err
		}
	}
	e.estates[subs] = max(e.estates[subs], n)
	return nil
}

// header is the top of a config: concurrency, ARM, its bucket, Vault.
func (e *env) header(c benchCase) string {
	h := fmt.Sprintf("concurrency = %d\n\n[azure]\nendpoint = %q\ncredential = \"managed-identity\"\n", c.concurrency, e.emu.URL())
	if c.bucket != nil {
		h += fmt.Sprintf("requests_per_second = %g\nburst = %d\n", c.bucket.Refill, c.bucket.Burst)
	}
	if c.accounts > sources.DefaultMaxFound {
		// The emulator evaluates a Resource Graph query over the whole
		// estate at its first page: at a million resources that took over
		// the default 30 s a request on two shared cores. That is the
		// emulator's cost, not keysync's or Azure's.
		h += "timeout = \"5m\"\n"
	}
	return h + "\n[vault]\nmount = \"secret\"\nkv_version = 2\n"
}

// discoverConfig writes a config with one [[discover]] block that finds
// the first n accounts of the case's estate (n = 0: none) by their tags, in
// every subscription the identity sees, with Resource Graph; secrets go
// under bench/<dir>/.
func (e *env) discoverConfig(c benchCase, n int, dir string) (string, error) {
	if n > 0 && !slices.Contains(estateSizes, n) {
		return "", fmt.Errorf("case %s: %d is not one of the estate's sizes %v", c.name, n, estateSizes)
	}
	var b strings.Builder
	b.WriteString(e.header(c))
	fmt.Fprintf(&b, "\n[[discover]]\nname = \"bench\"\ntype = \"batch\"\ndiscovery = \"resource-graph\"\n"+
		"tags = { keysync = \"true\", \"upto-%d\" = \"yes\" }\npath = \"bench/%s/{name}\"\n", n, dir)
	if n > sources.DefaultMaxFound {
		fmt.Fprintf(&b, "max_accounts = %d\n", n) // the default bound is below the case
	}
	return e.writeConfig(dir+"-discover.toml", b.String())
}

// listedConfig writes today's config for the same n accounts: one
// [[account]] each, secrets under bench/<dir>/.
func (e *env) listedConfig(c benchCase, n int, dir string) (string, error) {
	var b strings.Builder
	b.WriteString(e.header(c))
	for i := range n {
		r := estateAccount(c.subs, i)
		fmt.Fprintf(&b, "\n[[account]]\nsubscription_id = %q\nresource_group = \"bench\"\nname = %q\npath = \"bench/%s/%s\"\n",
			r.Subscription, r.Name, dir, r.Name)
	}
	return e.writeConfig(dir+"-listed.toml", b.String())
}

func (e *env) writeConfig(name, text string) (string, error) {
	path := filepath.Join(e.dir, name)
	return path, os.WriteFile(path, []byte(text), 0o600)
}

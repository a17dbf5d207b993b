package azure

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/keysync/keysync/internal/armemu"
	"github.com/keysync/keysync/sources"
)

// skippedRows names the rows skipped, by the end of each row's id, and
// checks that each says why.
func skippedRows(t *testing.T, skipped []sources.Skipped) string {
	t.Helper()
	var out []string
	for _, s := range skipped {
		if s.Reason == "" || strings.ContainsAny(s.Row+s.Reason, "\x00\x01\x07\n") {
			t.Errorf("skipped row %q: reason %q", s.Row, s.Reason)
		}
		out = append(out, s.Row[strings.LastIndexByte(s.Row, '/')+1:])
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

// TestDiscoverSkipsHostileRows: with either engine, a row whose resource
// group holds a '/' (escaped in the id: it would write one level deeper),
// whose tag names differ only in case with different values, whose copied
// tag value or any tag name holds a control character, is skipped with
// its reason; the other rows are found, case-duplicate tags with one
// value collapse into one, and a control character in a tag not copied
// is no reason to skip; nor is anything in a resource group the block
// does not search.
func TestDiscoverSkipsHostileRows(t *testing.T) {
	s := discoverSource(t)
	sub := newSub()
	addTagged(t, "batch", sub, "team-b/prod", "hostrg", nil)
	addTagged(t, "batch", sub, "rg", "hostcase", map[string]string{"owner": "a", "OWNER": "b"})
	addTagged(t, "batch", sub, "rg", "hostvalue", map[string]string{"owner": "team\x07a"})
	addTagged(t, "batch", sub, "rg", "hostname", map[string]string{"bad\x01name": "v"})
	addTagged(t, "batch", sub, "rg", "goodcase", map[string]string{"owner": "x", "Owner": "x"})
	addTagged(t, "batch", sub, "rg", "goodnote", map[string]string{"owner": "y", "note": "two\nlines"})
	sel := sources.Selector{Type: "batch", Subscriptions: []string{sub}, KeepTags: []string{"Owner"}}
	for _, engine := range engines {
		found, skipped, err := s.Discover(context.Background(), sel, engine)
		if err != nil || names(found) != "goodcase,goodnote" {
			t.Fatalf("%s: found %q (%v)", engine, names(found), err)
		}
		if got := skippedRows(t, skipped); got != "hostcase,hostname,hostrg,hostvalue" {
			t.Fatalf("%s: skipped %q: %+v", engine, got, skipped)
		}
		for _, f := range found {
			if len(f.Tags) != 1 || f.Tags["Owner"] == "" {
				t.Fatalf("%s: %s kept %q, want one tag under copy_tags' name Owner", engine, f.Account.Name, f.Tags)
			}
		}
		// A row of a resource group the block does not search is none of
		// its business, however odd.
		in := sel
		in.ResourceGroups = []string{"RG"}
		if _, skipped, err := s.Discover(context.Background(), in, engine); err != nil || skippedRows(t, skipped) != "hostcase,hostname,hostvalue" {
			t.Fatalf("%s with resource_groups: skipped %+v (%v)", engine, skipped, err)
		}
	}
}

// TestDiscoverSkipsForeignRows: an answer's row from a subscription that
// was not queried, of another type, not an id, or of another shape, is
// skipped; the good row beside them is found, with either engine.
func TestDiscoverSkipsForeignRows(t *testing.T) {
	s := discoverSource(t)
	sub, other := newSub(), newSub()
	id := func(sub, provider, name string) string {
		return `"/subscriptions/` + sub + `/resourceGroups/rg/providers/` + provider + `/` + name + `"`
	}
	rows := strings.Join([]string{
		`{"id":` + id(sub, "Microsoft.Batch/batchAccounts", "good") + `}`,
		`{"id":` + id(other, "Microsoft.Batch/batchAccounts", "foreignsub") + `}`,
		`{"id":` + id(sub, "Microsoft.Storage/storageAccounts", "othertype") + `}`,
		`{"id":"../../etc/notanid"}`,
		`{"id":` + id(sub, "Microsoft.Batch/batchAccounts", "numbertag") + `,"tags":{"owner":3}}`,
		`{"id":7}`, `5`,
	}, ",")
	emu.InjectGraphFault(armemu.Fault{Kind: armemu.FaultRaw, Times: 1,
		Body: fmt.Sprintf(`{"totalRecords":7,"count":7,"resultTruncated":"false","data":[%s]}`, rows)})
	emu.InjectListFault(sub, "batch", armemu.Fault{Kind: armemu.FaultRaw, Times: 1, Body: `{"value":[` + rows + `]}`})
	for _, engine := range engines {
		found, skipped, err := s.Discover(context.Background(), sources.Selector{Type: "batch", Subscriptions: []string{sub}}, engine)
		if err != nil || names(found) != "good" {
			t.Fatalf("%s: found %q (%v)", engine, names(found), err)
		}
		// The rows without a usable id are named by a placeholder.
		if got := skippedRows(t, skipped); got != "(a row without an id),foreignsub,notanid,numbertag,othertype" {
			t.Fatalf("%s: skipped %q: %+v", engine, got, skipped)
		}
	}
}

package vault

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/keysync/keysync/internal/testenv"
	"github.com/keysync/keysync/sinks"
	"github.com/keysync/keysync/sync/plan"
)

// TestCreateKeepsARacingWriter: a writer that creates the path between
// keysync's read and its create loses nothing. One that writes only
// metadata keeps its custom_metadata beside keysync's marks; one that
// writes data too keeps both, and keysync's create fails as a
// check-and-set conflict, writing nothing.
func TestCreateKeepsARacingWriter(t *testing.T) {
	needVault(t)
	ctx := context.Background()
	s, _ := countingSink(t)
	for _, tc := range []struct {
		name     string
		data     map[string]any
		conflict bool
	}{
		{name: "metadata only"},
		{name: "data and metadata", data: map[string]any{"owner": "payments"}, conflict: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := uniquePath()
			cur, err := s.Read(ctx, path)
			if err != nil || cur.Exists {
				t.Fatalf("read %+v, %v", cur, err)
			}
			theirs := map[string]any{"custom_metadata": map[string]any{"team": "payments"}}
			if _, err := dev.Client.Logical().Write("secret/metadata/"+path, theirs); err != nil {
				t.Fatal(err)
			}
			if tc.data != nil {
				if _, err := dev.Client.KVv2("secret").Put(ctx, path, tc.data); err != nil {
					t.Fatal(err)
				}
			}
			err = s.Write(ctx, path, plan.Calculate(cur, desired("p1", "s1"), time.Now()).Write)
			if got := errors.Is(err, sinks.ErrConflict); got != tc.conflict {
				t.Fatalf("create: %v; want a conflict: %v", err, tc.conflict)
			}
			got, err := dev.Client.KVv2("secret").Get(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			if got.CustomMetadata["team"] != "payments" {
				t.Errorf("the racing writer's custom_metadata is gone: keys %v", slices.Sorted(maps.Keys(got.CustomMetadata)))
			}
			if tc.conflict && (got.Data["owner"] != "payments" || got.CustomMetadata["managed-by"] != nil || got.VersionMetadata.Version != 1) {
				t.Errorf("keysync wrote over the racing writer's secret: fields %v, version %d", slices.Sorted(maps.Keys(got.Data)), got.VersionMetadata.Version)
			}
			if !tc.conflict && (got.CustomMetadata["managed-by"] != "keysync" || got.Data[plan.FieldOwner] != "/r") {
				t.Errorf("keysync's create is incomplete: fields %v, metadata %v", slices.Sorted(maps.Keys(got.Data)), slices.Sorted(maps.Keys(got.CustomMetadata)))
			}
		})
	}
}

// TestCreateWithoutPatch: a token the policy denies PATCH on metadata (a
// policy written before keysync asked for patch) still creates: Vault's
// 403 is followed by a read of the metadata and a whole write with
// keysync's keys merged in, and no key of the entry is lost.
func TestCreateWithoutPatch(t *testing.T) {
	needVault(t)
	ctx := context.Background()
	if err := dev.Client.Sys().PutPolicy("no-patch", `path "secret/data/*" { capabilities = ["create", "read", "update"] }
path "secret/metadata/*" { capabilities = ["create", "read", "update"] }`); err != nil {
		t.Fatal(err)
	}
	tok, err := dev.Client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"no-patch"}})
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	c, err := NewClient(ClientOptions{Address: dev.Addr, Timeout: 30 * time.Second, Observe: func(op, code string) { seen = append(seen, op+" "+code) }})
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(tok.Auth.ClientToken)
	s, err := Open(ctx, c, Options{Mount: "secret", KVVersion: 2})
	if err != nil {
		t.Fatal(err)
	}
	path := uniquePath()
	if _, err := dev.Client.Logical().Write("secret/metadata/"+path, map[string]any{"custom_metadata": map[string]any{"team": "payments"}}); err != nil {
		t.Fatal(err)
	}
	seen = nil
	if ch := syncOnce(t, s, path, desired("p1", "s1")); ch.Action != plan.Create {
		t.Fatalf("action %v, want create", ch.Action)
	}
	if want := []string{"read 404", "write 200", "write-metadata 403", "read-metadata 200", "write-metadata 204"}; !slices.Equal(seen, want) {
		t.Fatalf("the create made %q, want %q", seen, want)
	}
	md, err := dev.Client.KVv2("secret").GetMetadata(ctx, path)
	if err != nil || md.CustomMetadata["team"] != "payments" || md.CustomMetadata["managed-by"] != "keysync" {
		t.Fatalf("custom_metadata after create: %v, keys %v", err, slices.Sorted(maps.Keys(md.CustomMetadata)))
	}
}

// TestCreateCutShortIsRepaired: a create whose data write landed and
// whose metadata write did not (keysync stopped between them) is
// keysync's by its data mark: the next sync writes the metadata and
// nothing else. A second version, or a field of someone else's beside
// the mark, is not a create cut short: it is refused without adopt.
func TestCreateCutShortIsRepaired(t *testing.T) {
	needVault(t)
	ctx := context.Background()
	s, requests := countingSink(t)
	cutShort := map[string]any{"primary": "p1", "secondary": "s1", plan.FieldOwner: "/r"}
	for _, tc := range []struct {
		name     string
		versions []map[string]any
		want     plan.Action
	}{
		{"cut short", []map[string]any{cutShort}, plan.RepairMetadata},
		{"a foreign field", []map[string]any{{"primary": "p1", "secondary": "s1", plan.FieldOwner: "/r", "owner": "payments"}}, plan.Refused},
		{"a second version", []map[string]any{{"primary": "p0"}, cutShort}, plan.Refused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := uniquePath()
			for _, v := range tc.versions {
				if _, err := dev.Client.KVv2("secret").Put(ctx, path, v); err != nil {
					t.Fatal(err)
				}
			}
			cur, err := s.Read(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			ch := plan.Calculate(cur, desired("p1", "s1"), time.Now())
			if ch.Action != tc.want {
				t.Fatalf("action %v (%s), want %v", ch.Action, ch.Reason, tc.want)
			}
			if tc.want != plan.RepairMetadata {
				return
			}
			requests()
			if err := s.Write(ctx, path, ch.Write); err != nil {
				t.Fatal(err)
			}
			if got, want := requests(), []string{"write-metadata 204"}; !slices.Equal(got, want) {
				t.Fatalf("the repair made %q, want %q", got, want)
			}
			if ch := syncOnce(t, s, path, desired("p1", "s1")); ch.Action != plan.Unchanged {
				t.Fatalf("after the repair: %v, want unchanged", ch.Action)
			}
		})
	}
}

// TestAbsentListsEachFolderOnce: a survey costs one LIST per folder and
// finds absent exactly the paths with neither versions nor metadata; a
// folder that does not exist holds nothing; a token that may not list
// gets an error, and a KV v1 mount finds nothing absent.
func TestAbsentListsEachFolderOnce(t *testing.T) {
	needVault(t)
	ctx := context.Background()
	s, requests := countingSink(t)
	dir, empty := uniquePath(), uniquePath()
	withData, metaOnly, none := dir+"/a", dir+"/b", dir+"/c"
	if _, err := dev.Client.KVv2("secret").Put(ctx, withData, map[string]any{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	if _, err := dev.Client.Logical().Write("secret/metadata/"+metaOnly, map[string]any{"custom_metadata": map[string]any{"team": "x"}}); err != nil {
		t.Fatal(err)
	}
	requests()
	got, err := s.Absent(ctx, []string{withData, metaOnly, none, empty + "/d"})
	if want := []bool{false, false, true, true}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("Absent = %v, %v; want %v", got, err, want)
	}
	if r := requests(); len(r) != 2 {
		t.Fatalf("the survey made %q, want one LIST per folder", r)
	}

	if err := dev.Client.Sys().PutPolicy("no-list", `path "secret/data/*" { capabilities = ["create", "read", "update"] }
path "secret/metadata/*" { capabilities = ["create", "read", "update", "patch"] }`); err != nil {
		t.Fatal(err)
	}
	tok, err := dev.Client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"no-list"}})
	if err != nil {
		t.Fatal(err)
	}
	denied, err := Open(ctx, client(t, tok.Auth.ClientToken), Options{Mount: "secret", KVVersion: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := denied.Absent(ctx, []string{none}); err == nil || got != nil {
		t.Fatalf("Absent without list = %v, %v; want an error", got, err)
	}

	v1, err := Open(ctx, client(t, testenv.RootToken), Options{Mount: testenv.V1Mount, KVVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := v1.Absent(ctx, []string{none}); err != nil || got != nil {
		t.Fatalf("Absent on KV v1 = %v, %v; want nothing", got, err)
	}
}

package main

import (
	"testing"

	"github.com/keysync/keysync/internal/armemu"
)

func TestParseResource(t *testing.T) {
	tests := []struct {
		in   string
		want armemu.Resource
		err  bool
	}{
		{in: "sub/rg/name", want: armemu.Resource{Type: "batch", Subscription: "sub", ResourceGroup: "rg", Name: "name"}},
		{in: "storage:sub/rg/st1", want: armemu.Resource{Type: "storage", Subscription: "sub", ResourceGroup: "rg", Name: "st1"}},
		{in: "eventhubs:sub/rg/ns/Root", want: armemu.Resource{Type: "eventhubs", Subscription: "sub", ResourceGroup: "rg", Name: "ns", Rule: "Root"}},
		{in: "nosuch:sub/rg/name", err: true},
		{in: "sub/rg", err: true},
		{in: "sub/rg/a/b/c", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseResource(tt.in)
			if (err != nil) != tt.err || got != tt.want {
				t.Errorf("parseResource(%q) = %+v, %v", tt.in, got, err)
			}
		})
	}
}

func TestAddAccountTags(t *testing.T) {
	emu := armemu.New()
	if err := addAccount(emu, "sub/rg/tagged?keysync=true&owner=team%20a"); err != nil {
		t.Fatal(err)
	}
	if err := addAccount(emu, "sub/rg/bad?x=%zz"); err == nil {
		t.Fatal("a malformed tag query was accepted")
	}
	a, _ := emu.Get(armemu.Resource{Subscription: "sub", ResourceGroup: "rg", Name: "tagged"})
	if len(a.Tags) != 2 || a.Tags["keysync"] != "true" || a.Tags["owner"] != "team a" {
		t.Fatalf("tags %v", a.Tags)
	}
	if err := addAccount(emu, "sub/rg/plain"); err != nil {
		t.Fatal(err)
	}
	if _, ok := emu.Get(armemu.Resource{Subscription: "sub", ResourceGroup: "rg", Name: "plain"}); !ok {
		t.Fatal("the untagged account was not added")
	}
	if got := emu.Subscriptions(); len(got) != 1 || got[0].SubID != "sub" {
		t.Fatalf("subscriptions %+v", got)
	}
}

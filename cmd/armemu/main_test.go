package main

import (
	"testing"

	"github.com/keysync/keysync/armemu"
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

package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// accountHead and discoverHead open a valid [[account]] and [[discover]]
// table, to which a test appends the settings it checks.
const (
	accountHead  = "[[account]]\nsubscription_id = \"00000000-0000-0000-0000-000000000000\"\nresource_group = \"rg\"\nname = \"acct01\"\npath = \"p\"\n"
	discoverHead = "[[discover]]\ntype = \"storage\"\npath = \"d/{name}\"\n"
)

// TestSettingsDecodeInBothBlocks: each of the eight per-account settings,
// written under its own key in [[account]] and in [[discover]], reaches
// the one embedded Settings of both (the decoder flattens an untagged
// embedded struct, as encoding/json does).
func TestSettingsDecodeInBothBlocks(t *testing.T) {
	for _, tt := range []struct {
		line string
		typ  string
		want Settings
	}{
		{`schedule = "@every 5m"`, "storage", Settings{Schedule: "@every 5m"}},
		{`adopt = true`, "storage", Settings{Adopt: true}},
		{`rule = "Root"`, "eventhubs", Settings{Rule: "Root"}},
		{`api_version = "2023-01-01"`, "storage", Settings{APIVersion: "2023-01-01"}},
		{`fields = { key1 = "primary" }`, "storage", Settings{Fields: map[string]string{"key1": "primary"}}},
		{"rotate_every = \"1h\"\nrotate_grace = \"10m\"\nrotate_keys = [\"keys\"]", "storage",
			Settings{RotateEvery: Duration{time.Hour}, RotateGrace: Duration{10 * time.Minute}, RotateKeys: []string{"keys"}}},
	} {
		t.Run(strings.Fields(tt.line)[0], func(t *testing.T) {
			text := fmt.Sprintf("%stype = %q\n%s\n%s", accountHead, tt.typ, tt.line, strings.Replace(discoverHead, "storage", tt.typ, 1)+tt.line+"\n")
			cfg, err := Parse(text)
			if err != nil {
				t.Fatalf("%v\nin:\n%s", err, text)
			}
			if got := cfg.Accounts[0].Settings; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("[[account]] settings %+v, want %+v", got, tt.want)
			}
			if got := cfg.Discover[0].Settings; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("[[discover]] settings %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestSettingsErrorsNameKeyAndBlock: a wrong setting is reported under its
// own key and its block, whether the decoder or validation finds it, and
// the embedded struct's name is no key of either block.
func TestSettingsErrorsNameKeyAndBlock(t *testing.T) {
	for _, tt := range []struct {
		name, text, want string
	}{
		{"account: decoder", accountHead + "adopt = \"yes\"\n", "account.adopt (line 6): TOML value has type string; destination has type boolean"},
		{"discover: decoder", discoverHead + "rotate_keys = \"keys\"\n", "discover.rotate_keys (line 4): TOML value has type string; destination has type slice"},
		{"account: validation", accountHead + "type = \"storage\"\nrotate_every = \"1h\"\nrotate_keys = [\"kerb\"]\n",
			`account[0].rotate_keys: "kerb" is not a key pair of type storage (keys)`},
		{"discover: validation", discoverHead + "rotate_every = \"1h\"\nrotate_keys = [\"kerb\"]\n",
			`discover[0].rotate_keys: "kerb" is not a key pair of type storage (keys)`},
		{"discover: rule of the default type", "[[discover]]\npath = \"d/{name}\"\nrule = \"x\"\n", "discover[0].rule: does not apply to type batch"},
		{"account: the struct's name", accountHead + "settings = { adopt = true }\n", "account.settings: unknown key\naccount.settings.adopt: unknown key"},
		{"discover: the struct's name", discoverHead + "[discover.settings]\nadopt = true\n", "discover.settings: unknown key\ndiscover.settings.adopt: unknown key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.text)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error:\n%v\nwant:\n%s", err, tt.want)
			}
		})
	}
}

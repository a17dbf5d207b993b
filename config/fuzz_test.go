package config

import (
	"os"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// FuzzParse feeds arbitrary text to the loader: it must return a config or
// an error, never panic, and a config it accepts must pass validation.
func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile("../config.example.toml"); err == nil {
		f.Add(string(b))
	}
	f.Add("concurrency = 4\n[[account]]\nname = \"a\"\n")
	f.Add("[azure]\ntimeout = \"1s\"\n")
	f.Add("= = =")
	f.Add("x = " + strings.Repeat("{a=", 40) + "1" + strings.Repeat("}", 40))
	f.Add(strings.Repeat("[", 64))
	f.Add(strings.Repeat("k = 1\n", 50) + "[" + strings.Repeat("a.", 30) + "a]")
	f.Fuzz(func(t *testing.T, text string) {
		cfg, err := Parse(text)
		if err == nil {
			if probs := cfg.validate(); len(probs) > 0 {
				t.Fatalf("accepted a config with problems: %v", probs)
			}
		}
	})
}

// FuzzShape checks the pre-scan against the decoder: text the pre-scan
// refuses as too deep must be text the decoder refuses too, or whose tree
// really is nested deeper than MaxDepth. A wrong turn in its reading of
// strings or comments would refuse a good file.
func FuzzShape(f *testing.F) {
	f.Add("[a.b]\nc.d = { e = [1, { f = \"{[\" }] } # [[[[\n")
	f.Add("x = \"\"\"\n[[[\"\"\"\"\"\ny = '''{{'''")
	f.Add(strings.Repeat("{a=", 20))
	f.Add("x = " + strings.Repeat("[", 20))
	f.Add(strings.Repeat("a.", 20) + "b = 1")
	f.Fuzz(func(t *testing.T, text string) {
		_, err := checkShape(text)
		if err == nil || !strings.Contains(err.Error(), "nesting deeper") {
			return
		}
		var tree map[string]any
		if _, derr := toml.Decode(text, &tree); derr == nil && treeDepth(tree) <= MaxDepth {
			t.Fatalf("refused as too deep (%v), but the decoder reads a tree %d deep", err, treeDepth(tree))
		}
	})
}

// treeDepth counts the tables and arrays from the root to the deepest value,
// the root excluded.
func treeDepth(v any) int {
	deepest := 0
	switch v := v.(type) {
	case map[string]any:
		for _, c := range v {
			deepest = max(deepest, 1+treeDepth(c))
		}
	case []any:
		for _, c := range v {
			deepest = max(deepest, 1+treeDepth(c))
		}
	case []map[string]any:
		for _, c := range v {
			deepest = max(deepest, 1+treeDepth(c))
		}
	}
	return deepest
}

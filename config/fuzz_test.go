package config

import (
	"os"
	"testing"
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
	f.Fuzz(func(t *testing.T, text string) {
		cfg, err := Parse(text)
		if err == nil {
			if probs := cfg.validate(); len(probs) > 0 {
				t.Fatalf("accepted a config with problems: %v", probs)
			}
		}
	})
}

package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestHelpAndBadFlags(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		code       int
		stdoutHas  []string
		stderrHas  []string
		stdoutNone []string
	}{
		{
			name: "help is no error and shows --flags, the environment and exit codes",
			args: []string{"--help"}, code: exitOK,
			stdoutHas:  []string{"Usage:", "--config FILE", "--run-now", "keysync status", "VAULT_CLIENT_TIMEOUT", "AZURE_AUTHORITY_HOST", "Exit status:", "3  could not start"},
			stdoutNone: []string{"\n  -config"},
		},
		{name: "short help", args: []string{"-h"}, code: exitOK, stdoutHas: []string{"Usage:"}},
		{name: "status help is no error either", args: []string{"status", "--help"}, code: exitOK, stderrHas: []string{"-token-file"}},
		{
			name: "an unknown flag is a usage error, said once",
			args: []string{"--bogus"}, code: exitUsage,
			stderrHas: []string{"keysync: flag provided but not defined: -bogus", "keysync --help"},
		},
		{name: "a stray argument", args: []string{"--validate", "extra"}, code: exitUsage, stderrHas: []string{"unexpected arguments"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tt.args, &stdout, &stderr); code != tt.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tt.code, stderr.String())
			}
			for _, want := range tt.stdoutHas {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
				}
			}
			for _, bad := range tt.stdoutNone {
				if strings.Contains(stdout.String(), bad) {
					t.Errorf("stdout has %q", bad)
				}
			}
			for _, want := range tt.stderrHas {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
				}
			}
			if n := strings.Count(stderr.String(), "flag provided"); n > 1 {
				t.Errorf("the flag error is printed %d times", n)
			}
		})
	}
}

// TestBuildVersion: -ldflags' version wins; without one, a test binary
// (which Go records as "(devel)") stays "dev".
func TestBuildVersion(t *testing.T) {
	tests := []struct{ set, want string }{
		{set: "v1.4.2", want: "v1.4.2"},
		{set: "dev", want: "dev"},
	}
	for _, tt := range tests {
		t.Run(tt.set, func(t *testing.T) {
			if got := buildVersion(tt.set); got != tt.want {
				t.Fatalf("buildVersion(%q) = %q, want %q", tt.set, got, tt.want)
			}
		})
	}
}

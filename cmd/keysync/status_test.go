package main

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keysync/keysync/internal/server"
	"github.com/keysync/keysync/sync/scheduler"
)

func TestStatusFlags(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.toml")
	text := "listen = \"0.0.0.0:10720\"\n[api]\ntoken_file = \"/run/keysync/token\"\n[[account]]\nsubscription_id = \"00000000-0000-0000-0000-000000000000\"\nresource_group = \"rg\"\nname = \"acct1\"\npath = \"azure/batch/acct1\"\n"
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		args      []string
		wantAddr  string
		wantToken string
		wantErr   string
	}{
		{name: "defaults", wantAddr: "127.0.0.1:10719"},
		{name: "addr", args: []string{"--addr", "10.0.0.1:99"}, wantAddr: "10.0.0.1:99"},
		{name: "from config", args: []string{"--config", cfg}, wantAddr: "127.0.0.1:10720", wantToken: "/run/keysync/token"},
		{name: "flags win over config", args: []string{"--config", cfg, "--addr", "[::1]:1", "--token-file", "/t"}, wantAddr: "[::1]:1", wantToken: "/t"},
		{name: "bad addr", args: []string{"--addr", "nohost"}, wantErr: "want host:port"},
		{name: "unknown flag", args: []string{"--bogus"}, wantErr: "flag provided but not defined"},
		{name: "extra argument", args: []string{"now"}, wantErr: "unexpected arguments"},
		{name: "missing config", args: []string{"--config", filepath.Join(dir, "none.toml")}, wantErr: "no such file"},
		{name: "bad timeout", args: []string{"--timeout", "-1s"}, wantErr: "--timeout must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			o, err := parseStatusFlags(tt.args, &stderr)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || o.addr != tt.wantAddr || o.tokenFile != tt.wantToken {
				t.Fatalf("got %+v, %v; want addr %s token %s", o, err, tt.wantAddr, tt.wantToken)
			}
		})
	}
}

func TestDialable(t *testing.T) {
	for in, want := range map[string]string{":10719": "127.0.0.1:10719", "0.0.0.0:1": "127.0.0.1:1", "[::]:2": "[::1]:2", "10.1.2.3:4": "10.1.2.3:4"} {
		if got := dialable(in); got != want {
			t.Errorf("dialable(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestStatusExitCodes: 0 with a table, 1 for a refusal, 3 for no daemon,
// 2 for bad flags or an unusable token file.
func TestStatusExitCodes(t *testing.T) {
	const token = "0123456789abcdef-status"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/status" || r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(`{"time":"2026-11-29T05:00:00Z","accounts":[{"account":"acct1\u001b[31m","type":"batch","path":"azure/batch/acct1","last_result":"failed","consecutive_failures":2,"error_code":"AuthorizationFailed","rotation":{"enabled":true,"every":"24h0m0s","pending":true}}]}`))
	}))
	defer srv.Close()
	dir := t.TempDir()
	good := filepath.Join(dir, "token")
	open := filepath.Join(dir, "open")
	_ = os.WriteFile(good, []byte(token+"\n"), 0o600)
	_ = os.WriteFile(open, []byte(token+"\n"), 0o644)
	addr := strings.TrimPrefix(srv.URL, "http://")
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := ln.Addr().String()
	ln.Close()
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"table", []string{"--addr", addr, "--token-file", good}, exitOK, "AuthorizationFailed"},
		{"no token", []string{"--addr", addr}, exitFailed, "pass --token-file"},
		{"no daemon", []string{"--addr", closed, "--token-file", good, "--timeout", "2s"}, exitUnreachable, "cannot reach"},
		{"token file readable by others", []string{"--addr", addr, "--token-file", open}, exitUsage, "others can read"},
		{"bad flag", []string{"--nope"}, exitUsage, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(append([]string{"status"}, tt.args...), &stdout, &stderr); code != tt.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tt.code, stdout.String(), stderr.String())
			}
			if out := stdout.String() + stderr.String(); !strings.Contains(out, tt.want) || strings.Contains(out, "\x1b") {
				t.Fatalf("output lacks %q or holds an escape:\n%s", tt.want, out)
			}
		})
	}
}

func TestPrintStatus(t *testing.T) {
	var b bytes.Buffer
	at := time.Date(2026, 11, 29, 5, 0, 0, 0, time.UTC)
	printStatus(&b, server.StatusReply{Time: at, Accounts: []scheduler.AccountStatus{
		{Account: "acct1", Type: "batch", Path: "azure/batch/acct1", LastResult: "unchanged", LastRun: at, LastSuccess: at, NextRun: at.Add(time.Hour)},
		{Account: "acct2", Type: "storage", Path: "azure/storage/acct2", Running: true, ConsecutiveFailures: 3, ErrorCode: "Throttled"},
	}})
	want := []string{
		"ACCOUNT  TYPE     PATH                 LAST RESULT  LAST RUN              LAST SUCCESS          NEXT RUN              FAILURES  ERROR      ROTATION",
		"acct1    batch    azure/batch/acct1    unchanged    2026-11-29T05:00:00Z  2026-11-29T05:00:00Z  2026-11-29T06:00:00Z  0         -          -",
		"acct2    storage  azure/storage/acct2  (running)    -                     -                     -                     3         Throttled  -",
		"2 accounts at 2026-11-29T05:00:00Z",
	}
	if got := strings.TrimSpace(b.String()); got != strings.Join(want, "\n") {
		t.Fatalf("table:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}

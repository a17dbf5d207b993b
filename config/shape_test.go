package config

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestShapeRefusesBombs: each file is refused by the pre-scan, before the
// decoder (Parse gives the pre-scan's own error), quickly, with a short
// error. "Quickly" is 10 s: a linear scan of these takes well under a
// second under -race, one that is quadratic in their size would take
// hours, and a busy machine stays far from the bound.
func TestShapeRefusesBombs(t *testing.T) {
	deep := strings.Repeat("{a=", 100_000) + "1" + strings.Repeat("}", 100_000)
	for name, text := range map[string]string{
		"nested inline tables": "x = " + deep,
		"nested arrays":        "x = " + strings.Repeat("[", 1_000_000),
		"dotted key":           strings.Repeat("a.", 10_000) + "a = 1",
		"table header":         "[" + strings.Repeat("a.", 10_000) + "a]",
		"header then deep key": "[a.b.c.d.e.f.g.h]\ni.j.k.l.m.n.o.p.q = 1",
		"many keys":            strings.Repeat("k = 1\n", MaxValues+1),
		"many array elements":  "x = [" + strings.Repeat("1,", MaxValues+1) + "]",
		"many key bytes":       strings.Repeat("[t"+strings.Repeat("t", 1000)+"]\n", MaxKeyBytes/1000+1),
		"over the size cap":    strings.Repeat("#", MaxFileSize+1),
	} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			_, err := checkShape(text)
			if err == nil {
				t.Fatal("accepted")
			}
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("took %v", took)
			}
			if len(err.Error()) > 200 {
				t.Errorf("error of %d bytes: %.200s", len(err.Error()), err)
			}
			if _, perr := Parse(text); perr == nil || perr.Error() != err.Error() {
				t.Errorf("Parse: %v, want the pre-scan's error", perr)
			}
		})
	}
}

// TestShapeAcceptsRealFiles: strings, comments and arrays of tables that
// hold brackets, dots, quotes and '=' do not count as nesting or keys.
func TestShapeAcceptsRealFiles(t *testing.T) {
	b, err := os.ReadFile("../config.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	texts := []string{
		string(b),
		`a = "{{{{{{{{{{{{{{{{{{{{[[[[[[[[[[[[[[[[[[[[....."` + "\n" + `b = '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[.....'`,
		"a = \"\"\"\n{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{\n\"\"\"\"\"\nb = '''\n[[[[[[[[[[[[[[[[[[[[[[[['''''\nc = 1",
		"# [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[ a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r\nx = 1 # {{{{{{{{{{{{{{{{{{{{{{{{{{",
		`"a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s" = 1` + "\n" + `x = "\"{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{"`,
		"[[account]]\nfields = { primaryKey = \"p\", secondaryKey = \"s\" }\n[[account]]\nx = [[1, 2], [3, [4]]]",
		"[a.b.c]\nd.e.f = { g.h = [1, { i = 2 }] }",
		strings.Repeat("[[account]]\nsubscription_id = \"x\"\nresource_group = \"rg\"\nname = \"n\"\npath = \"p\"\n", 10_000),
	}
	for i, text := range texts {
		if _, err := checkShape(text); err != nil {
			t.Errorf("text %d refused: %v", i, err)
		}
	}
}

// TestProblemsAreBounded: a report of many long problems lists the first
// MaxProblemsListed, each cut, then how many more; values are quoted cut.
func TestProblemsAreBounded(t *testing.T) {
	var p Problems
	huge := strings.Repeat("\x1b[2J", 100_000)
	for range 1000 {
		p.add(huge, "bad value %q in %s", huge, huge)
	}
	got := p.Error()
	lines := strings.Split(got, "\n")
	if len(lines) != MaxProblemsListed+1 || lines[MaxProblemsListed] != "... and 980 more problems" {
		t.Fatalf("%d lines, last %q", len(lines), lines[len(lines)-1])
	}
	if len(got) > 16<<10 || strings.Contains(got, "\x1b") {
		t.Fatalf("report of %d bytes, or holding a raw escape", len(got))
	}
	if len(p[0].Msg) > 2*maxMsgLen {
		t.Fatalf("message of %d bytes kept", len(p[0].Msg))
	}
}

// TestLoadRefusesOddFiles: a FIFO (which would block), a directory and a
// file over the cap are refused without reading them whole.
func TestLoadRefusesOddFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.toml")
	if err := os.WriteFile(big, []byte(strings.Repeat("#", MaxFileSize+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		fifo: "file: is not a regular file", dir: "file: is not a regular file", big: "file: is larger than 16 MiB",
	} {
		done := make(chan error, 1)
		go func() { _, err := Load(path); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Errorf("%s: %v, want %q", filepath.Base(path), err, want)
			}
		case <-time.After(time.Minute): // opening a FIFO for reading blocks until a writer comes: forever
			t.Fatalf("%s: Load blocked", filepath.Base(path))
		}
	}
}

// TestListen: IP literals, localhost and the empty host pass; names and
// ports out of range do not.
func TestListen(t *testing.T) {
	for listen, ok := range map[string]bool{
		"": true, "127.0.0.1:10719": true, ":10719": true, "[::1]:0": true, "localhost:65535": true, "0.0.0.0:80": true,
		"127.0.0.1:99999": false, "not-an-ip:80": false, "127.0.0.1:http": false, "127.0.0.1:-1": false, "127.0.0.1:+80": false,
		"10719": false, "127.0.0.1:": false, "example.com:80": false,
	} {
		var p Problems
		checkListen(&p, listen)
		if (len(p) == 0) != ok {
			t.Errorf("%q: problems %v", listen, p)
		}
	}
}

// TestVaultPaths: the normal form, and one slash on each side dropped.
func TestVaultPaths(t *testing.T) {
	for path, ok := range map[string]bool{
		"azure/batch/acct1": true, "/azure/batch/acct1/": true, "team-a/Batch_RG-(eu).west/acct@1": true, "a~b/c=d,e;f:g!h$i&j'k": true,
		"": false, "/": false, "//a": false, "a//": false, "a/../b": false, "..": false, "./a": false, "a/b?c": false,
		"a#b": false, "a%2Fb": false, "a b": false, "a\x00b": false, "a\nb": false, "a\x7fb": false, "a/*": false, "ü": false,
		strings.Repeat("p", MaxVaultPath): true, strings.Repeat("p", MaxVaultPath+1): false,
	} {
		var p Problems
		if checkVaultPath(&p, "path", path) != ok || (len(p) == 0) != ok {
			t.Errorf("%q: problems %v", path, p)
		}
	}
	cfg, err := Parse("[vault]\nmount = \"/kv/\"\n[[account]]\nsubscription_id = \"00000000-0000-0000-0000-000000000000\"\nresource_group = \"rg\"\nname = \"acct1\"\npath = \"/a/b/\"\n")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Vault.Mount != "kv" || cfg.Accounts[0].Path != "a/b" {
		t.Fatalf("not normalized: mount %q path %q", cfg.Vault.Mount, cfg.Accounts[0].Path)
	}
}

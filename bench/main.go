// Command bench measures keysync against a naive baseline, side by side in
// one run, on the ARM emulator (with configurable latency and throttle
// bucket) and a real Vault dev server. Run it with `make bench` (full
// cases, report written to docs/BENCHMARKS.md) or `make bench-smoke` (small
// cases, a check that it still works). Its figures are not part of the
// test suite's pass/fail.
package main

import (
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/keysync/keysync/internal/testenv"
)

// env is what every case runs against.
type env struct {
	dir     string
	keysync string
	// keysyncMem is keysync built with the keysync_memsink tag: secrets
	// in its own memory, for the cases where Vault would be the machine's
	// bottleneck (benchCase.memsink).
	keysyncMem string
	naive      string
	vault      *testenv.Vault
	emu        *testenv.Emulator
	auditFile  string
	estates    map[int]int // accounts made so far, by the estate's subscription count
}

func main() { os.Exit(run()) }

func run() int {
	smoke := flag.Bool("smoke", false, "small cases: prove the benchmark works, in seconds")
	out := flag.String("out", "", "also write the report as Markdown to this file")
	only := flag.String("only", "", "run only the case of this name (the only way to run a case marked onlyByName)")
	accounts := flag.Int("accounts", 0, "with -only, run the case with this many accounts instead (a [[discover]] case takes one of the estate's sizes)")
	svgOut := flag.String("svg", "", "also write the scale chart (RSS and cycle time against account count) as SVG to this file")
	flag.Parse()
	e, err := setup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	defer e.close()
	started := time.Now()
	var results []caseResult
	for _, c := range cases(*smoke) {
		if (*only != "" || c.onlyByName) && c.name != *only {
			continue
		}
		if *accounts > 0 {
			c.accounts = *accounts
		}
		fmt.Fprintf(os.Stderr, "bench: %s ...\n", c.name)
		caseStart := time.Now()
		r, err := e.runCase(c)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: %s: %v\n", c.name, err)
			return 1
		}
		r.load = loadAvg()
		fmt.Fprintf(os.Stderr, "bench: %s took %s (load %s)\n", c.name, time.Since(caseStart).Round(time.Second), r.load)
		results = append(results, r)
	}
	if err := write(results, *smoke, time.Since(started), *out, *svgOut); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	return 0
}

// write prints the report, and writes it and the chart to their files
// when named.
func write(results []caseResult, smoke bool, took time.Duration, out, svgOut string) error {
	svg := scaleChart(results)
	if err := checkXML(svg); err != nil {
		return fmt.Errorf("the chart is not well-formed SVG: %w", err)
	}
	report := render(results, smoke, took, filepath.Base(svgOut))
	fmt.Print(report)
	// Both are documents for everyone to read (docs/).
	for _, f := range []struct{ path, text string }{{out, report}, {svgOut, svg}} {
		if f.path == "" {
			continue
		}
		if err := os.WriteFile(f.path, []byte(f.text), 0o644); err != nil { //nolint:gosec // G306: a public report, no secret in it
			return err
		}
	}
	return nil
}

// checkXML reads a document through to its end.
func checkXML(doc string) error {
	d := xml.NewDecoder(strings.NewReader(doc))
	for {
		if _, err := d.Token(); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
	}
}

func setup() (*env, error) {
	dir, err := os.MkdirTemp("", "keysync-bench-")
	if err != nil {
		return nil, err
	}
	e := &env{dir: dir, auditFile: filepath.Join(dir, "audit.log")}
	if e.keysync, err = build(dir, "keysync", "./cmd/keysync"); err != nil {
		return nil, err
	}
	if e.keysyncMem, err = build(dir, "keysync-memsink", "./cmd/keysync", "-tags", "keysync_memsink"); err != nil {
		return nil, err
	}
	if e.naive, err = build(dir, "naive", "./bench/naive"); err != nil {
		return nil, err
	}
	if e.vault, err = testenv.StartVault(); err != nil {
		return nil, err
	}
	err = e.vault.Client.Sys().EnableAuditWithOptions("file", &api.EnableAuditOptions{Type: "file",
		Options: map[string]string{"file_path": e.auditFile, "log_raw": "false"}})
	if err != nil {
		return nil, fmt.Errorf("enabling the audit log: %w", err)
	}
	if e.emu, err = testenv.StartEmulator(dir); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *env) close() {
	if e.emu != nil {
		if err := e.emu.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "bench: closing the emulator:", err)
		}
	}
	if e.vault != nil {
		e.vault.Stop()
	}
	if err := os.RemoveAll(e.dir); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
	}
}

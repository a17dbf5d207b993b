package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestInvalidFiles pairs each testdata/invalid-*.toml with the exact error
// in the .err file beside it.
func TestInvalidFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid-*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid configs found: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := Load(f)
			if err == nil {
				t.Fatal("Load accepted an invalid file")
			}
			wantFile := strings.TrimSuffix(f, ".toml") + ".err"
			want, rerr := os.ReadFile(wantFile)
			if rerr != nil {
				t.Fatalf("missing %s; the error was:\n%s", wantFile, err)
			}
			if got := err.Error(); got != strings.TrimSpace(string(want)) {
				t.Fatalf("error:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestExampleIsValid(t *testing.T) {
	cfg, err := Load("../config.example.toml")
	if err != nil {
		t.Fatalf("config.example.toml: %v", err)
	}
	if len(cfg.Accounts) != 1 || cfg.Accounts[0].Name != "sampleacct" || cfg.Accounts[0].Path != "azure/batch/sampleacct" || cfg.Accounts[0].Label != "sampleacct" {
		t.Fatalf("accounts = %+v", cfg.Accounts)
	}
	d := Defaults()
	cfg.Accounts, d.Accounts = nil, nil
	if fmt.Sprintf("%+v", *cfg) != fmt.Sprintf("%+v", d) {
		t.Fatalf("the example's values differ from the defaults it documents:\n%+v\n%+v", cfg, d)
	}

}

func TestSchedules(t *testing.T) {
	for _, s := range []string{"@every 15m", "@hourly", "0 * * * *", "30 0 * * * *", "CRON_TZ=Europe/Berlin 0 3 * * *", "*/5 * * * 1-5"} {
		if _, err := ScheduleParser.Parse(s); err != nil {
			t.Errorf("%q rejected: %v", s, err)
		}
	}
	for _, s := range []string{"", "hourly", "* * *", "CRON_TZ=Mars/Base 0 * * * *", "@every -1m", "@every 10ms"} {
		var p Problems
		checkSchedule(&p, "schedule", s)
		if len(p) != 1 {
			t.Errorf("%q: problems %v, want one", s, p)
		}
	}
}

func TestMinimalFileGetsDefaults(t *testing.T) {
	cfg, err := Parse(`
[[account]]
subscription_id = "00000000-0000-0000-0000-000000000000"
resource_group  = "Batch_RG-(eu).west"
name            = "acct1"
path            = "/azure/batch/acct1/"
schedule        = "CRON_TZ=UTC 0 */6 * * *"
adopt           = true
`)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Azure.Timeout.Duration != 30*time.Second || cfg.Vault.Mount != "secret" || cfg.Azure.APIVersion != "2026-08-01" {
		t.Fatalf("defaults not applied: %+v", cfg)
	}
	// 9464 is OpenTelemetry's Prometheus exporter port; a vault.timeout of 0
	// leaves VAULT_CLIENT_TIMEOUT (else 30 s) to the Vault client.
	if cfg.Listen != "127.0.0.1:10719" || cfg.Vault.Timeout.Duration != 0 {
		t.Fatalf("listen %q, vault.timeout %v: want 127.0.0.1:10719 and 0", cfg.Listen, cfg.Vault.Timeout)
	}
	if !cfg.Accounts[0].Adopt {
		t.Fatal("adopt not decoded")
	}
	if !cfg.Vault.LegacyOwnership {
		t.Fatal("legacy_ownership is off by default: secrets written before data marks would be refused after an upgrade")
	}
}

// TestLegacyOwnershipOff: the switch that refuses secrets with only the
// metadata mark decodes.
func TestLegacyOwnershipOff(t *testing.T) {
	cfg, err := Parse("[vault]\nlegacy_ownership = false\n\n[[account]]\nsubscription_id = \"00000000-0000-0000-0000-000000000000\"\nresource_group = \"rg\"\nname = \"acct1\"\npath = \"azure/acct1\"\n")
	if err != nil || cfg.Vault.LegacyOwnership {
		t.Fatalf("err %v, legacy_ownership %t", err, cfg != nil && cfg.Vault.LegacyOwnership)
	}
}

func TestLabelsAreUnique(t *testing.T) {
	acct := func(sub, rg, name string) string {
		return fmt.Sprintf("[[account]]\nsubscription_id = %q\nresource_group = %q\nname = %q\npath = %q\n", sub, rg, name, sub+"/"+rg+"/"+name)
	}
	s1, s2 := "00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000002"
	cfg, err := Parse(acct(s1, "rg1", "solo") + acct(s1, "rg1", "twin") + acct(s1, "rg2", "twin") + acct(s1, "rg3", "trip") + acct(s2, "rg3", "trip"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"solo", "rg1/twin", "rg2/twin", s1 + "/rg3/trip", s2 + "/rg3/trip"}
	for i, a := range cfg.Accounts {
		if a.Label != want[i] {
			t.Errorf("account %d label %q, want %q", i, a.Label, want[i])
		}
	}
}

func TestResourceGroupLength(t *testing.T) {
	for n, ok := range map[int]bool{1: true, 90: true, 91: false} {
		var p Problems
		a := Account{SubscriptionID: "00000000-0000-0000-0000-000000000000", ResourceGroup: strings.Repeat("é", n), Name: "acct1", Path: "p"}
		a.validate(&p, "account[0]")
		if (len(p) == 0) != ok {
			t.Errorf("resource group of %d letters: problems %v", n, p)
		}
	}
}

// TestInlineSecretNeedsAPrivateFile: a secret_id inline is refused in a
// file that group or others can read, with a pointer to secret_id_file, and
// accepted at mode 0600. Printing the config never shows it.
func TestInlineSecretNeedsAPrivateFile(t *testing.T) {
	const sid = "3f1c9a2e-inline-secret-id-value-7d41"
	text := `[vault.auth]
method    = "approle"
role_id   = "role"
secret_id = "` + sid + `"

[[account]]
subscription_id = "00000000-0000-0000-0000-000000000000"
resource_group  = "rg"
name            = "acct1"
path            = "azure/batch/acct1"
`
	path := t.TempDir() + "/config.toml"
	// 0640 is the systemd layout, root:keysync with keysync reading through
	// its group: accepted in a group this process is in (the test file's),
	// refused below in a foreign one.
	for mode, ok := range map[os.FileMode]bool{0o644: false, 0o660: false, 0o604: false, 0o640: true, 0o600: true, 0o400: true} {
		writeMode(t, path, text, mode)
		cfg, err := Load(path)
		if ok != (err == nil) {
			t.Fatalf("mode %#o: err %v", mode, err)
		}
		if err != nil && (!strings.Contains(err.Error(), "secret_id_file") || strings.Contains(err.Error(), sid)) {
			t.Fatalf("mode %#o: unclear or leaking error: %v", mode, err)
		}
		if cfg != nil {
			if cfg.Vault.Auth.SecretID.Reveal() != sid {
				t.Fatal("secret_id not decoded")
			}
			for _, verb := range []string{"%v", "%+v", "%#v"} {
				if strings.Contains(fmt.Sprintf(verb, cfg), sid) {
					t.Fatalf("%s of the config shows the secret", verb)
				}
			}
		}
	}
	if os.Geteuid() != 0 {
		t.Fatal("the foreign-group case chowns the file: run as root, as CI does")
	}
	writeMode(t, path, text, 0o640)
	if err := os.Chown(path, 0, 64999); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "which this process is not in") {
		t.Fatalf("a config readable by a foreign group was not refused: %v", err)
	}
	// Without an inline secret, mode does not matter.
	writeMode(t, path, strings.Replace(text, `secret_id = "`+sid+`"`, `secret_id_file = "/etc/keysync/sid"`, 1), 0o644)
	if _, err := Load(path); err != nil {
		t.Fatal(err)
	}
}

// TestDecodeErrorsHideValues: a secret typed wrong (no quotes, a bad
// escape) must not be quoted back by the decoder's message.
func TestDecodeErrorsHideValues(t *testing.T) {
	const sid = "Zq7secretvalueNeverShown42"
	for _, line := range []string{
		"secret_id = " + sid,
		`secret_id = "` + sid + `\x"`,
		`secret_id = "` + sid,
		"secret_id = '" + sid,
	} {
		_, err := Parse("[vault.auth]\nmethod = \"approle\"\n" + line + "\n")
		if err == nil {
			t.Fatalf("%q: no error", line)
		}
		if strings.Contains(err.Error(), sid[:8]) || strings.Contains(err.Error(), "secretvalue") {
			t.Errorf("%q: the error shows the value: %v", line, err)
		}
	}
}

// writeMode writes text to path and gives it mode (WriteFile's mode is
// only for a new file, and the umask cuts it).
func writeMode(t *testing.T, path, text string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

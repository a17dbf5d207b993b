package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// accountsFile is a file of n accounts after a preamble; extra[i], when
// set, is added to account i's table (a key, or a sub-table header and
// its keys).
func accountsFile(preamble string, n int, extra map[int]string) string {
	var b strings.Builder
	b.WriteString(preamble)
	for i := range n {
		fmt.Fprintf(&b, "\n# account %d\n[[account]]\nsubscription_id = \"00000000-0000-4000-8000-%012d\"\nresource_group = \"rg\"\nname = \"acct%d\"\npath = \"p/%d\"\n",
			i, i%7, i, i)
		if i%4 == 1 {
			fmt.Fprintf(&b, "type = \"redis\"\n[account.fields]\nprimaryKey = \"key%d\"\n", i)
		}
		b.WriteString(extra[i])
	}
	return b.String()
}

const preamble = "concurrency = 4\nschedule = \"@every 2h\"\n\n[azure]\ncredential = \"managed-identity\"\n\n[vault]\nmount = \"kv\"\n[vault.auth]\nmethod = \"token\"\n"

// TestDecodeInPiecesIsDecodeWhole: a file cut at its [[account]] tables
// decodes to the config, unknown keys and errors that decoding it whole
// gives, line numbers included.
func TestDecodeInPiecesIsDecodeWhole(t *testing.T) {
	tests := []struct {
		name     string
		text     string
		wantErr  string // a part of the error both give
		wantCuts bool   // checkShape lets decode cut the file
	}{
		{name: "plain", text: accountsFile(preamble, 23, nil), wantCuts: true},
		{name: "unknown keys in the preamble and in pieces", wantCuts: true,
			text: accountsFile(preamble+"[azure.extra]\nx = 1\n", 23, map[int]string{3: "colour = \"red\"\n", 17: "[account.rotate]\nevery = \"1h\"\n"})},
		{name: "type error in a late piece", wantErr: "line", wantCuts: true,
			text: accountsFile(preamble, 23, map[int]string{19: "adopt = \"yes\"\n"})},
		{name: "type error early, syntax error later: the syntax error", wantErr: "expected value but found '='", wantCuts: true,
			text: accountsFile(preamble, 23, map[int]string{2: "adopt = \"yes\"\n", 21: "name = = \n"})},
		{name: "type error in the preamble", wantErr: "concurrency", wantCuts: true,
			text: accountsFile(strings.Replace(preamble, "concurrency = 4", "concurrency = \"four\"", 1), 23, nil)},
		{name: "a table after the accounts: whole", wantCuts: false,
			text: accountsFile(preamble, 23, nil) + "\n[api]\n"},
		{name: "accounts inline before the tables: whole", wantErr: "account", wantCuts: true,
			text: accountsFile("account = [{name = \"x\"}]\n"+preamble, 23, nil)},
		{name: "an account header spelt otherwise: whole", wantCuts: false,
			text: accountsFile(preamble, 23, map[int]string{9: "[[ account ]]\nname = \"odd\"\n"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cuts, err := checkShape(tt.text)
			if err != nil {
				t.Fatal(err)
			}
			if (len(cuts) > 0) != tt.wantCuts {
				t.Fatalf("checkShape gave %d cuts, want cuts: %t", len(cuts), tt.wantCuts)
			}
			want, wantProbs, wantErr := decodeWhole(tt.text)
			got, gotProbs, gotErr := decode(tt.text, cuts, 5)
			if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
				t.Fatalf("error in pieces %v, whole %v", gotErr, wantErr)
			}
			if tt.wantErr != "" && (wantErr == nil || !strings.Contains(wantErr.Error(), tt.wantErr)) {
				t.Fatalf("error %v, want one containing %q", wantErr, tt.wantErr)
			}
			if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gotProbs, wantProbs) {
				t.Fatalf("in pieces:\n%+v\n%v\nwhole:\n%+v\n%v", got, gotProbs, want, wantProbs)
			}
			if wantErr == nil && len(want.Accounts) < 23 {
				t.Fatalf("decoded %d accounts of 23", len(want.Accounts))
			}
		})
	}
}

// TestParseDecodesLargeFilesInPieces: Parse cuts a file of more than
// accountsPerDecode accounts, and loads what the whole file holds.
func TestParseDecodesLargeFilesInPieces(t *testing.T) {
	n := 2*accountsPerDecode + 1
	text := accountsFile(preamble, n, map[int]string{n - 1: "adopt = true\n"})
	if cuts, err := checkShape(text); err != nil || len(cuts) != n {
		t.Fatalf("checkShape: %d cuts, %v; want %d", len(cuts), err, n)
	}
	got, err := Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := decodeWhole(text)
	if err != nil {
		t.Fatal(err)
	}
	want.normalize()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Parse loaded %d accounts unlike the whole file's %d", len(got.Accounts), len(want.Accounts))
	}
	if !got.Accounts[n-1].Adopt || got.Concurrency != 4 || got.Vault.Mount != "kv" {
		t.Fatal("Parse lost the preamble or the last account's keys")
	}
}

// FuzzDecodeInPieces: whatever the text, decoding it cut at every account
// (the smallest pieces) gives what decoding it whole gives.
func FuzzDecodeInPieces(f *testing.F) {
	f.Add(accountsFile(preamble, 3, map[int]string{1: "colour = 1\n"}))
	f.Add(accountsFile("x = 1\n", 2, map[int]string{0: "[[account.fields]]\n", 1: "[account]\n"}))
	f.Add(accountsFile("[vault]\n", 3, map[int]string{2: "'''\n[[account]]\n'''\n"}))
	f.Fuzz(func(t *testing.T, text string) {
		cuts, err := checkShape(text)
		if err != nil || len(cuts) < 2 {
			return
		}
		want, wantProbs, wantErr := decodeWhole(text)
		got, gotProbs, gotErr := decode(text, cuts, 1)
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gotProbs, wantProbs) {
			t.Fatalf("in pieces: %+v %v %v\nwhole: %+v %v %v", got, gotProbs, gotErr, want, wantProbs, wantErr)
		}
	})
}

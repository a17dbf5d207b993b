package oneline

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestFirst(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{name: "one line", in: "token request failed", want: "token request failed"},
		{name: "later lines dropped", in: "AuthenticationFailed\n--- RESPONSE ---\n{\"secret\":1}", want: "AuthenticationFailed"},
		{name: "carriage return and tab", in: "a\rb\tc\nd", want: "a b c"},
		{name: "escape sequence", in: "red \x1b[31m text", want: "red  [31m text"},
		{name: "bad utf-8", in: "caf\xe9", want: "caf\uFFFD"},
		{name: "empty", in: "", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := First(tt.in); got != tt.want {
				t.Fatalf("First(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCleanBoundsLength(t *testing.T) {
	got := Clean(strings.Repeat("é", MaxRunes+10))
	if n := utf8.RuneCountInString(got); n != MaxRunes+1 || !strings.HasSuffix(got, "…") {
		t.Fatalf("cleaned %d runes ending %q, want %d and an ellipsis", n, got[len(got)-6:], MaxRunes+1)
	}
	if got := Clean("a\nb"); got != "a b" {
		t.Fatalf("Clean kept a line break: %q", got)
	}
}

// Package oneline makes text keysync did not write (a server's message, a
// library's error, which may quote a whole response) safe to put on one
// line of a log or an error: valid UTF-8, no control characters, bounded.
package oneline

import (
	"strings"
	"unicode/utf8"
)

// MaxRunes bounds the text Clean and First return, before the ellipsis
// that marks a cut.
const MaxRunes = 1024

// Clean is s as valid UTF-8, each control character (line breaks
// included) a space, cut to MaxRunes with "…" after a cut.
func Clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) > MaxRunes {
		s = string([]rune(s)[:MaxRunes]) + "…"
	}
	return s
}

// First is the first line of s, cleaned: what keysync keeps of an error
// whose later lines quote what a server answered.
func First(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return Clean(s)
}

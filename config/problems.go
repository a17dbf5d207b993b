package config

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Bounds on an error report, so that a hostile file cannot make one large:
// it is printed by --validate and logged whole by a rejected reload.
const (
	// MaxProblemsListed is how many problems an error lists before
	// "... and N more problems".
	MaxProblemsListed = 20
	// maxKeyLen and maxMsgLen cut a problem's key and message, in bytes.
	maxKeyLen = 128
	maxMsgLen = 512
	// maxQuoted cuts a value quoted in a message, in bytes.
	maxQuoted = 64
)

// Problem is one thing wrong with the file, named by its key.
type Problem struct {
	Key string
	Msg string
}

// Problems is every problem found in a file; it is the error Load returns.
type Problems []Problem

// add records a problem. A string argument longer than maxQuoted is cut
// before formatting, so a message quoting a huge value stays small.
func (p *Problems) add(key, format string, args ...any) {
	for i, a := range args {
		if s, ok := a.(string); ok && len(s) > maxQuoted {
			args[i] = long(s)
		}
	}
	*p = append(*p, Problem{Key: cut(key, maxKeyLen), Msg: fmt.Sprintf(format, args...)})
}

// long is a string argument too long to quote whole.
type long string

// Format implements fmt.Formatter: quoted (a value from the file), the
// first maxQuoted bytes then "..."; otherwise (a list of choices, an error)
// cut at maxMsgLen.
func (l long) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		fmt.Fprint(f, quote(string(l)))
		return
	}
	fmt.Fprint(f, cut(string(l), maxMsgLen))
}

// Error implements error: one problem a line, at most MaxProblemsListed
// of them, each cut to a bounded length.
func (p Problems) Error() string {
	n := min(len(p), MaxProblemsListed)
	lines := make([]string, n, n+1)
	for i, pr := range p[:n] {
		lines[i] = cut(pr.Key, maxKeyLen) + ": " + cut(pr.Msg, maxMsgLen)
	}
	if more := len(p) - n; more > 0 {
		lines = append(lines, fmt.Sprintf("... and %d more problems", more))
	}
	return strings.Join(lines, "\n")
}

// cut shortens s to at most n bytes, on a rune boundary, marking the cut;
// newlines and other control characters become escapes so a problem stays
// one line.
func cut(s string, n int) string {
	if len(s) <= n && !strings.ContainsFunc(s, isControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		piece := string(r)
		if isControl(r) {
			piece = strings.Trim(fmt.Sprintf("%q", r), "'")
		}
		if b.Len()+len(piece) > n {
			b.WriteString("...")
			break
		}
		b.WriteString(piece)
	}
	return b.String()
}

func isControl(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == utf8.RuneError
}

// quote is %q of v, cut to maxQuoted bytes of v.
func quote(v string) string {
	if len(v) <= maxQuoted {
		return fmt.Sprintf("%q", v)
	}
	end := maxQuoted
	for end > 0 && !utf8.RuneStart(v[end]) {
		end--
	}
	return fmt.Sprintf("%q...", v[:end])
}

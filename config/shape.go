package config

import (
	"fmt"
	"strings"
)

// Limits on the file, checked before the TOML decoder sees a byte of it.
// The decoder's cost grows with nesting (it recurses, and a deep file took
// gigabytes) and with the number of values it holds (about 300 bytes each);
// these bounds keep the worst file up to MaxFileSize under about 100 MiB
// and 2 s to refuse. keysync's own tables nest 4 deep at most; an
// [[account]] table holds five or six values, so a listed estate stops near
// 16,000-20,000 accounts: a larger one is found by [[discover]] blocks,
// which cost a few values each whatever they find.
const (
	// MaxFileSize is the largest config file read, in bytes (16 MiB).
	MaxFileSize = 16 << 20
	// MaxDepth bounds nesting: table header segments, dotted key
	// segments and open inline tables and arrays, added up.
	MaxDepth = 16
	// MaxValues bounds the keys, table headers, dotted key segments and
	// array elements.
	MaxValues = 100_000
	// MaxKeyBytes bounds the bytes of all keys and table headers added
	// up: the decoder keeps several copies of each.
	MaxKeyBytes = 2 << 20
)

// scanner walks TOML text just well enough to tell keys, strings, comments
// and brackets apart, in one pass with constant memory. It does not
// validate: the decoder does that, on text this scan let through.
type scanner struct {
	text string
	i    int
	line int
	// open is the number of open '{' and '['; inline[d] says whether
	// level d+1 is an inline table (where keys live) or an array.
	open   int
	inline [MaxDepth + 1]bool
	// header is the segment count of the last [table] header; atKey
	// says the next bare word is a key; segs counts the current key's
	// segments so far.
	header   int
	atKey    bool
	segs     int
	values   int
	keyBytes int
	// accounts are the top-level [[account]] headers, in order; mixed
	// is set when a header other than an account's own sub-tables
	// follows the first of them, or one that names account otherwise
	// comes before it. decode cuts the file only where neither happens.
	accounts []mark
	mixed    bool
}

// mark is where a table header starts: its byte offset and line.
type mark struct{ at, line int }

// checkShape refuses text too large, nested too deep or holding too many
// values for the decoder to be run on it safely. It returns where the
// [[account]] tables start, for decode, or none when the file cannot be
// cut there.
func checkShape(text string) ([]mark, error) {
	if len(text) > MaxFileSize {
		return nil, Problems{{Key: "file", Msg: fmt.Sprintf("is larger than %d MiB", MaxFileSize>>20)}}
	}
	s := scanner{text: text, line: 1, atKey: true}
	if err := s.run(); err != nil {
		return nil, Problems{{Key: fmt.Sprintf("line %d", s.line), Msg: err.Error()}}
	}
	if s.mixed {
		return nil, nil
	}
	return s.accounts, nil
}

func (s *scanner) run() error {
	for s.i < len(s.text) {
		if err := s.step(); err != nil {
			return err
		}
	}
	return nil
}

// step consumes one token: a string, a comment, a table header, or one
// byte of anything else.
func (s *scanner) step() error {
	switch c := s.text[s.i]; {
	case c == '"' || c == '\'':
		start := s.i
		s.skipString()
		if !s.atKey {
			return nil
		}
		s.segs = max(s.segs, 1)
		return s.key(s.i - start)
	case c == '#':
		s.skipComment()
		return nil
	case c == '[' && s.open == 0 && s.atKey:
		at, line := s.i, s.line
		err := s.tableHeader()
		s.noteHeader(s.text[at:s.i], mark{at, line})
		return err
	default:
		s.i++
		return s.byte(c)
	}
}

// byte handles one byte that is neither a string nor a comment.
func (s *scanner) byte(c byte) error {
	switch {
	case c == '\n':
		s.line++
		if s.open == 0 {
			s.atKey, s.segs = true, 0
		}
	case c == '{' || c == '[':
		return s.push(c == '{')
	case c == '}' || c == ']':
		s.pop()
	case c == ',' && s.open > 0 && s.inline[s.open]:
		s.atKey, s.segs = true, 0
	case c == ',' && s.open > 0:
		return s.count()
	case c == '=' && s.atKey:
		s.atKey = false
		if err := s.count(); err != nil {
			return err
		}
		return s.depth(s.segs)
	case c == '.' && s.atKey:
		// Each segment of a dotted key is a table of its own.
		s.segs++
		if err := s.count(); err != nil {
			return err
		}
		return s.depth(s.segs)
	case s.atKey && c != ' ' && c != '\t' && c != '\r':
		s.segs = max(s.segs, 1)
		return s.key(1)
	}
	return nil
}

// key counts n bytes of keys against MaxKeyBytes.
func (s *scanner) key(n int) error {
	if s.keyBytes += n; s.keyBytes > MaxKeyBytes {
		return fmt.Errorf("more than %d MiB of keys and table names", MaxKeyBytes>>20)
	}
	return nil
}

// depth refuses a key of segs segments at the current nesting.
func (s *scanner) depth(segs int) error {
	if d := s.header + s.open + segs; d > MaxDepth {
		return fmt.Errorf("nesting deeper than %d levels (tables, dotted keys, inline tables and arrays)", MaxDepth)
	}
	return nil
}

// count counts one value against MaxValues.
func (s *scanner) count() error {
	if s.values++; s.values > MaxValues {
		return fmt.Errorf("more than %d keys, tables and array elements", MaxValues)
	}
	return nil
}

// push opens an inline table or an array.
func (s *scanner) push(table bool) error {
	if s.open+1+s.header+s.segs > MaxDepth {
		return s.depth(s.segs + 1)
	}
	s.open++
	s.inline[s.open] = table
	s.atKey, s.segs = table, 0
	if !table {
		// An array's first element counts here, the others at commas.
		return s.count()
	}
	return nil
}

// pop closes an inline table or an array; a stray closer is the decoder's
// to report.
func (s *scanner) pop() {
	if s.open > 0 {
		s.open--
	}
	// What follows a closer is a separator, not a key.
	s.atKey, s.segs = false, 0
}

// tableHeader reads [a.b] or [[a.b]] up to its closing bracket, counting
// its segments.
func (s *scanner) tableHeader() error {
	s.i++
	s.header = 1
	for s.i < len(s.text) {
		switch c := s.text[s.i]; c {
		case '"', '\'':
			start := s.i
			s.skipString()
			if err := s.key(s.i - start); err != nil {
				return err
			}
			continue
		case '.':
			s.header++
			if s.header > MaxDepth {
				return s.depth(0)
			}
			if err := s.count(); err != nil {
				return err
			}
		case ']', '\n', '#':
			if c == ']' && strings.HasPrefix(s.text[s.i:], "]]") {
				s.i++
			}
			s.atKey, s.segs = true, 0
			if c == ']' {
				s.i++
			}
			return s.count()
		}
		if err := s.key(1); err != nil {
			return err
		}
		s.i++
	}
	return s.count()
}

// noteHeader records a top-level table header h starting at m. Only a
// header that starts its line can be cut at.
func (s *scanner) noteHeader(h string, m mark) {
	sub := strings.HasPrefix(h, "[account.") || strings.HasPrefix(h, "[[account.")
	lineStart := strings.TrimRight(s.text[:m.at], " \t")
	switch {
	case lineStart != "" && !strings.HasSuffix(lineStart, "\n"):
		s.mixed = true
	case h == "[[account]]":
		s.accounts = append(s.accounts, m)
	case len(s.accounts) > 0 && !sub, len(s.accounts) == 0 && strings.Contains(h, "account"):
		s.mixed = true
	}
}

// skipString moves past a basic, literal or multi-line string starting at
// s.i. A single-line string also ends at a newline (the decoder refuses
// it), so an unclosed quote cannot hide the rest of the file.
func (s *scanner) skipString() {
	q := s.text[s.i]
	delim := string([]byte{q, q, q})
	if strings.HasPrefix(s.text[s.i:], delim) {
		s.i += 3
		s.skipMultiline(q, delim)
		return
	}
	for s.i++; s.i < len(s.text); s.i++ {
		switch s.text[s.i] {
		case '\\':
			if q == '"' && s.i+1 < len(s.text) && s.text[s.i+1] != '\n' {
				s.i++
			}
		case '\n':
			return
		case q:
			s.i++
			return
		}
	}
}

// skipMultiline moves past the body of a multi-line string and its closing
// delimiter, which may be preceded by up to two more quotes of the body.
func (s *scanner) skipMultiline(q byte, delim string) {
	for s.i < len(s.text) {
		c := s.text[s.i]
		switch {
		case c == '\\' && q == '"':
			s.i++
			if s.i < len(s.text) && s.text[s.i] == '\n' {
				s.line++
			}
		case c == '\n':
			s.line++
		case strings.HasPrefix(s.text[s.i:], delim):
			s.i += 3
			for n := 0; n < 2 && s.i < len(s.text) && s.text[s.i] == q; n++ {
				s.i++
			}
			return
		}
		s.i++
	}
	// A backslash ending the text stepped one past it.
	s.i = min(s.i, len(s.text))
}

// skipComment moves to the newline that ends a comment.
func (s *scanner) skipComment() {
	if n := strings.IndexByte(s.text[s.i:], '\n'); n >= 0 {
		s.i += n
		return
	}
	s.i = len(s.text)
}

package armemu

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// The emulator's Resource Graph understands a small subset of KQL, the
// Kusto Query Language
// (learn.microsoft.com/azure/governance/resource-graph/concepts/query-language):
//
//	Resources
//	| where <cond> [and|or <cond>]...
//	| extend <name> = <expr> [, <name> = <expr>]...
//	| project <column>[, <column>]...
//	| order by <column> [asc|desc]
//
// where a condition is isempty(<expr>), isnotempty(<expr>),
// <expr> =~|!~|==|!= <expr>, or <expr> in~ ('<literal>', ...), and an
// expression is a column, a string literal, an index (<expr>['<key>'] or
// <expr>.<key>) or
// tostring, tolower, todynamic or parse_json of one (kqlexpr.go). Anything
// else is refused with the unsupported part named, so that a client bug
// fails loudly instead of matching everything.

// token kinds.
const (
	tokIdent  = "identifier"
	tokString = "string"
	tokOp     = "operator"
	tokEnd    = "end of query"
)

type lexeme struct {
	kind, text string
	pos        int
}

// maxQueryTokens bounds a parsed query; 1,000 resource groups of a few
// tokens each fit.
const maxQueryTokens = 10_000

// tokenize splits a query into identifiers, single-quoted strings (with
// \\ and \' escapes) and the operators the subset uses.
func tokenize(q string) ([]lexeme, error) {
	var out []lexeme
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
			continue
		case c == '\'':
			s, n, err := readString(q[i:])
			if err != nil {
				return nil, fmt.Errorf("at %d: %w", i, err)
			}
			out = append(out, lexeme{tokString, s, i})
			i += n
		case c == '_' || isLetter(c):
			j := i + 1
			for j < len(q) && (q[j] == '_' || isLetter(q[j]) || isDigit(q[j])) {
				j++
			}
			if q[i:j] == "in" && j < len(q) && q[j] == '~' {
				out = append(out, lexeme{tokOp, "in~", i})
				j++
			} else {
				out = append(out, lexeme{tokIdent, q[i:j], i})
			}
			i = j
		default:
			op := readOp(q[i:])
			if op == "" {
				return nil, fmt.Errorf("at %d: unsupported character %q", i, rune(c))
			}
			out = append(out, lexeme{tokOp, op, i})
			i += len(op)
		}
		if len(out) > maxQueryTokens {
			return nil, fmt.Errorf("more than %d tokens", maxQueryTokens)
		}
	}
	return append(out, lexeme{tokEnd, "", len(q)}), nil
}

func isLetter(c byte) bool { return c < unicode.MaxASCII && unicode.IsLetter(rune(c)) }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

// readOp reads the longest operator of the subset at the start of s.
func readOp(s string) string {
	for _, op := range []string{"=~", "!~", "==", "!=", "=", "|", "(", ")", ",", "[", "]", "."} {
		if strings.HasPrefix(s, op) {
			return op
		}
	}
	return ""
}

// readString reads a single-quoted literal at the start of s, returning
// its value and the bytes it took.
func readString(s string) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\'':
			return b.String(), i + 1, nil
		case '\\':
			if i+1 >= len(s) || (s[i+1] != '\\' && s[i+1] != '\'') {
				return "", 0, fmt.Errorf("unsupported escape in string literal")
			}
			i++
			b.WriteByte(s[i])
		case '\n', '\r':
			return "", 0, fmt.Errorf("line break in string literal")
		default:
			b.WriteByte(s[i])
		}
	}
	return "", 0, fmt.Errorf("unterminated string literal")
}

// columns of the Resources table the emulator has. Kusto names are case
// sensitive, so "Type" is not "type".
var columns = map[string]bool{"id": true, "name": true, "type": true, "subscriptionId": true,
	"resourceGroup": true, "location": true, "tags": true, "properties": true}

// query is a parsed query.
type query struct {
	where []cond
	// extend are the extended columns' expressions, extendNames their
	// names, by slot.
	extend      []*expr
	extendNames []string
	project     []string // nil: every column
	orderBy     string
	desc        bool
}

// cond is a condition: an or/and of two, or one comparison of l with r
// (or with lits, for in~).
type cond struct {
	op          string // "or", "and", "isempty", "isnotempty", "=~", "!~", "==", "!=", "in~"
	left, right *cond
	l, r        *expr
	lits        []string
}

// parser reads tokens into q.
type parser struct {
	toks []lexeme
	i    int
	q    *query
}

func (p *parser) peek() lexeme { return p.toks[p.i] }

func (p *parser) next() lexeme {
	t := p.toks[p.i]
	if t.kind != tokEnd {
		p.i++
	}
	return t
}

func (p *parser) fail(t lexeme, what string) error {
	if t.kind == tokEnd {
		return fmt.Errorf("expected %s, found the end of the query", what)
	}
	return fmt.Errorf("unsupported %q at %d: expected %s", t.text, t.pos, what)
}

func (p *parser) expect(kind, text, what string) error {
	if t := p.next(); t.kind != kind || t.text != text {
		return p.fail(t, what)
	}
	return nil
}

// parseQuery parses q, or names what it does not support.
func parseQuery(q string) (*query, error) {
	toks, err := tokenize(q)
	if err != nil {
		return nil, err
	}
	out := &query{}
	p := &parser{toks: toks, q: out}
	if t := p.next(); t.kind != tokIdent || !strings.EqualFold(t.text, "Resources") {
		return nil, p.fail(t, "the table Resources")
	}
	for p.peek().kind != tokEnd {
		if err := p.expect(tokOp, "|", "| or the end of the query"); err != nil {
			return nil, err
		}
		if err := p.stage(out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// stage parses one tabular operator after a pipe.
func (p *parser) stage(out *query) error {
	t := p.next()
	if t.kind != tokIdent {
		return p.fail(t, "where, extend, project or order by")
	}
	switch t.text {
	case "extend":
		return p.extendList(out)
	case "where":
		c, err := p.or()
		if err != nil {
			return err
		}
		out.where = append(out.where, *c)
		return nil
	case "project":
		if out.project != nil {
			return p.fail(t, "a single project")
		}
		return p.projectList(out)
	case "order", "sort":
		return p.order(out)
	}
	return p.fail(t, "where, extend, project or order by")
}

// projectList parses the columns kept: of Resources, or extended.
func (p *parser) projectList(out *query) error {
	for {
		col, err := p.projected()
		if err != nil {
			return err
		}
		out.project = append(out.project, col)
		if p.peek().text != "," || p.peek().kind != tokOp {
			return nil
		}
		p.next()
	}
}

// projected reads a column of Resources or an extended one.
func (p *parser) projected() (string, error) {
	if t := p.peek(); t.kind == tokIdent {
		if _, ok := p.q.slot(t.text); ok {
			p.next()
			return t.text, nil
		}
	}
	return p.column()
}

func (p *parser) order(out *query) error {
	if err := p.expect(tokIdent, "by", "by"); err != nil {
		return err
	}
	col, err := p.column()
	if err != nil {
		return err
	}
	if col == "tags" || col == "properties" {
		return fmt.Errorf("order by %s: a dynamic column cannot be sorted", col)
	}
	if out.project != nil && !slices.Contains(out.project, col) {
		return fmt.Errorf("order by %s: column not in the projection", col)
	}
	out.orderBy, out.desc = col, true // Kusto sorts descending by default
	if t := p.peek(); t.kind == tokIdent && (t.text == "asc" || t.text == "desc") {
		p.next()
		out.desc = t.text == "desc"
	}
	return nil
}

func (p *parser) column() (string, error) {
	t := p.next()
	if t.kind != tokIdent || !columns[t.text] {
		return "", p.fail(t, "a column of Resources (id, name, type, subscriptionId, resourceGroup, location, tags, properties)")
	}
	return t.text, nil
}

// or parses conditions joined by "or", which binds weaker than "and".
func (p *parser) or() (*cond, error) {
	return p.binary("or", p.and)
}

func (p *parser) and() (*cond, error) {
	return p.binary("and", p.comparison)
}

func (p *parser) binary(op string, operand func() (*cond, error)) (*cond, error) {
	left, err := operand()
	if err != nil {
		return nil, err
	}
	for p.peek().kind == tokIdent && p.peek().text == op {
		p.next()
		right, err := operand()
		if err != nil {
			return nil, err
		}
		left = &cond{op: op, left: left, right: right}
	}
	return left, nil
}

// comparison parses isempty(x), isnotempty(x), x op y, x in~ (...).
func (p *parser) comparison() (*cond, error) {
	if t := p.peek(); t.kind == tokIdent && (t.text == "isempty" || t.text == "isnotempty") {
		p.next()
		if err := p.expect(tokOp, "(", "("); err != nil {
			return nil, err
		}
		x, err := p.expression()
		if err != nil {
			return nil, err
		}
		return &cond{op: t.text, l: x}, p.expect(tokOp, ")", ")")
	}
	l, err := p.expression()
	if err != nil {
		return nil, err
	}
	op := p.next()
	switch {
	case op.kind == tokOp && (op.text == "=~" || op.text == "!~" || op.text == "==" || op.text == "!="):
		r, err := p.expression()
		return &cond{op: op.text, l: l, r: r}, err
	case op.kind == tokOp && op.text == "in~":
		lits, err := p.literalList()
		return &cond{op: "in~", l: l, lits: lits}, err
	}
	return nil, p.fail(op, "=~, !~, ==, != or in~")
}

func (p *parser) literal() (string, error) {
	t := p.next()
	if t.kind != tokString {
		return "", p.fail(t, "a string literal")
	}
	return t.text, nil
}

func (p *parser) literalList() ([]string, error) {
	if err := p.expect(tokOp, "(", "("); err != nil {
		return nil, err
	}
	var out []string
	for {
		lit, err := p.literal()
		if err != nil {
			return nil, err
		}
		out = append(out, lit)
		if t := p.next(); t.kind != tokOp || (t.text != "," && t.text != ")") {
			return nil, p.fail(t, ", or )")
		} else if t.text == ")" {
			return out, nil
		}
	}
}

package armemu

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strings"
)

// Scalar expressions of the subset: a string literal, a column, a column
// an extend made, an index into a dynamic value (tags['key'],
// t[tolower('key')], properties.primaryEndpoints: "use either dot notation
// (dict.key) or bracket notation (dict["key"]) ... When the subscript is a
// string constant, both options are equivalent",
// learn.microsoft.com/kusto/query/scalar-data-types/dynamic), and the functions tostring, tolower, todynamic and
// parse_json. Each has a static type, string or dynamic, checked as Kusto
// checks it: tolower and todynamic take a string, an index a dynamic value
// and a string key
// (learn.microsoft.com/kusto/query/tolower-function,
// learn.microsoft.com/kusto/query/parse-json-function,
// learn.microsoft.com/kusto/query/scalar-data-types/dynamic).

// exprKind is what an expression is.
type exprKind uint8

const (
	exprLiteral exprKind = iota
	exprColumn
	exprExtended
	exprIndex
	exprCall
)

// expr is a parsed scalar expression.
type expr struct {
	kind exprKind
	// name is the column's, or the function's; lit the literal's value.
	name, lit string
	// slot is an extended column's place in the query's extends.
	slot int
	// args are a call's argument, or an index's base and key.
	args []*expr
	// dynamic is the static type: dynamic, else string.
	dynamic bool
}

// dyn is a value: null, a string, a property bag of strings (a
// resource's tags, or what todynamic made of them), or an object whose
// values are strings, bags or objects (a resource's properties). A string that is the
// JSON text of a bag (tostring(tags), lower-cased or not) keeps the bag in
// text until its text is read, so that todynamic of it needs no JSON:
// the answer is the same, at a tenth of the cost per row.
type dyn struct {
	kind  dynKind
	s     string
	bag   map[string]string
	obj   map[string]any
	text  map[string]string
	lower bool
}

type dynKind uint8

const (
	dynNull dynKind = iota
	dynString
	dynBag
	dynObject
)

// functions of the subset: each takes one argument, of type arg (dynamic
// when true; tostring takes either), and returns a dynamic value or not.
var functions = map[string]struct{ anyArg, arg, returns bool }{
	"tostring":   {anyArg: true},
	"tolower":    {},
	"todynamic":  {returns: true},
	"parse_json": {returns: true},
}

// extendList parses name = expr, ... A name must be new: replacing a
// column of Resources is not served.
func (p *parser) extendList(out *query) error {
	for {
		t := p.next()
		_, fn := functions[t.text]
		if t.kind != tokIdent || columns[t.text] || fn || keywords[t.text] {
			return p.fail(t, "a new column name")
		}
		if _, dup := out.slot(t.text); dup {
			return p.fail(t, "a name not extended before")
		}
		if err := p.expect(tokOp, "=", "="); err != nil {
			return err
		}
		x, err := p.expression()
		if err != nil {
			return err
		}
		out.extend, out.extendNames = append(out.extend, x), append(out.extendNames, t.text)
		if p.peek().text != "," || p.peek().kind != tokOp {
			return nil
		}
		p.next()
	}
}

// keywords of the subset cannot name an extended column.
var keywords = map[string]bool{"where": true, "extend": true, "project": true, "order": true, "sort": true, "by": true,
	"asc": true, "desc": true, "and": true, "or": true, "isempty": true, "isnotempty": true, "in": true}

// slot is the place of an extended column named c.
func (q *query) slot(c string) (int, bool) {
	if columns[c] {
		return 0, false
	}
	i := slices.Index(q.extendNames, c)
	return i, i >= 0
}

// expression parses a scalar expression: a primary, then any indexes,
// [<expr>] or .<name>.
func (p *parser) expression() (*expr, error) {
	e, err := p.primary()
	for err == nil && p.peek().kind == tokOp && (p.peek().text == "[" || p.peek().text == ".") {
		open := p.next()
		if !e.dynamic {
			return nil, p.fail(open, "an operator: only a dynamic value can be indexed")
		}
		var key *expr
		if key, err = p.key(open); err != nil {
			return nil, err
		}
		e = &expr{kind: exprIndex, args: []*expr{e, key}, dynamic: true}
		if open.text == "[" {
			err = p.expect(tokOp, "]", "]")
		}
	}
	return e, err
}

// key parses an index's key: a string expression after [, a name after
// a dot.
func (p *parser) key(open lexeme) (*expr, error) {
	if open.text == "." {
		t := p.next()
		if t.kind != tokIdent {
			return nil, p.fail(t, "a name after the dot")
		}
		return &expr{kind: exprLiteral, lit: t.text}, nil
	}
	key, err := p.expression()
	if err == nil && key.dynamic {
		return nil, p.fail(open, "a string key")
	}
	return key, err
}

// primary parses a literal, a call, or a column.
func (p *parser) primary() (*expr, error) {
	t := p.next()
	switch {
	case t.kind == tokString:
		return &expr{kind: exprLiteral, lit: t.text}, nil
	case t.kind == tokIdent && p.peek().text == "(" && p.peek().kind == tokOp:
		return p.call(t)
	case t.kind == tokIdent && columns[t.text]:
		return &expr{kind: exprColumn, name: t.text, dynamic: t.text == "tags" || t.text == "properties"}, nil
	case t.kind == tokIdent:
		if slot, ok := p.q.slot(t.text); ok {
			return &expr{kind: exprExtended, name: t.text, slot: slot, dynamic: p.q.extend[slot].dynamic}, nil
		}
	}
	return nil, p.fail(t, "a column, a string literal, or tostring, tolower, todynamic or parse_json of one")
}

// call parses fn(arg) for a function of the subset.
func (p *parser) call(fn lexeme) (*expr, error) {
	f, ok := functions[fn.text]
	if !ok {
		return nil, p.fail(fn, "tostring, tolower, todynamic or parse_json")
	}
	p.next() // (
	arg, err := p.expression()
	if err != nil {
		return nil, err
	}
	if !f.anyArg && arg.dynamic != f.arg {
		return nil, p.fail(fn, fn.text+" of a string (a dynamic value needs tostring first)")
	}
	return &expr{kind: exprCall, name: fn.text, args: []*expr{arg}, dynamic: f.returns}, p.expect(tokOp, ")", ")")
}

// eval is the expression's value for a row.
func (x *expr) eval(r *row) dyn {
	switch x.kind {
	case exprLiteral:
		return dyn{kind: dynString, s: x.lit}
	case exprColumn:
		switch x.name {
		case "tags":
			return bagOf(r.l.tags)
		case "properties":
			return dyn{kind: dynObject, obj: r.l.properties()}
		}
		return dyn{kind: dynString, s: r.col(x.name)}
	case exprExtended:
		return r.extended(x.slot)
	case exprIndex:
		base, key := x.args[0].eval(r), x.args[1].eval(r)
		if base.kind == dynObject {
			return member(base.obj[key.str()])
		}
		v, ok := base.bag[key.str()] // names keep their case: tags['X'] is not tags['x']
		if base.kind != dynBag || !ok {
			return dyn{}
		}
		return dyn{kind: dynString, s: v}
	}
	return call(x.name, x.args[0].eval(r))
}

// member is an object's value as a dyn: null when absent.
func member(v any) dyn {
	switch v := v.(type) {
	case string:
		return dyn{kind: dynString, s: v}
	case map[string]string:
		return bagOf(v)
	case map[string]any:
		return dyn{kind: dynObject, obj: v}
	}
	return dyn{}
}

// call applies a function of the subset to v.
func call(fn string, v dyn) dyn {
	switch {
	case fn == "tostring" && v.kind == dynObject:
		b, _ := json.Marshal(v.obj)
		return dyn{kind: dynString, s: string(b)}
	case fn == "tostring" && v.kind == dynBag:
		return dyn{kind: dynString, text: v.bag}
	case fn == "tostring" && v.kind == dynString:
		return v
	case fn == "tostring":
		return dyn{kind: dynString} // tostring(null) is ""
	case fn == "tolower" && v.text != nil:
		return dyn{kind: dynString, text: v.text, lower: true}
	case fn == "tolower":
		return dyn{kind: dynString, s: strings.ToLower(v.s)}
	case v.text != nil:
		return v.unparsed()
	}
	return parseJSON(v.s)
}

// unparsed is todynamic of a bag's JSON text, without the JSON: the text
// lists the names in order, and of two names lower-casing made one, the
// later wins, as in parseJSON.
func (v dyn) unparsed() dyn {
	if !v.lower {
		return dyn{kind: dynBag, bag: v.text}
	}
	bag := make(map[string]string, len(v.text))
	for _, k := range slices.Sorted(maps.Keys(v.text)) {
		bag[strings.ToLower(k)] = strings.ToLower(v.text[k])
	}
	return dyn{kind: dynBag, bag: bag}
}

// str is a string value's text.
func (v dyn) str() string {
	if v.text == nil {
		return v.s
	}
	s := bagJSON(v.text)
	if v.lower {
		s = strings.ToLower(s)
	}
	return s
}

// bagOf is tags as a value: null when the resource has none.
func bagOf(tags map[string]string) dyn {
	if tags == nil {
		return dyn{}
	}
	return dyn{kind: dynBag, bag: tags}
}

// bagJSON is tostring of a bag: JSON text, its names in order (as
// encoding/json writes a map).
func bagJSON(bag map[string]string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(bag)
	return strings.TrimSuffix(b.String(), "\n")
}

// parseJSON is todynamic's: an object of strings is a bag, a JSON string
// a string, anything else null. Of two names a JSON object repeats, the
// later wins.
func parseJSON(s string) dyn {
	var bag map[string]string
	if err := json.Unmarshal([]byte(s), &bag); err == nil && bag != nil {
		return dyn{kind: dynBag, bag: bag}
	}
	var str string
	if err := json.Unmarshal([]byte(s), &str); err == nil {
		return dyn{kind: dynString, s: str}
	}
	return dyn{}
}

// empty is isempty's truth: null, "", or a bag without names.
func (v dyn) empty() bool {
	return v.kind == dynNull || (v.kind == dynString && v.text == nil && v.s == "") || (v.kind == dynBag && len(v.bag) == 0) ||
		(v.kind == dynObject && len(v.obj) == 0)
}

// output is the value as an objectArray cell.
func (v dyn) output() any {
	switch v.kind {
	case dynString:
		return v.str()
	case dynBag:
		return v.bag
	case dynObject:
		return v.obj
	}
	return nil
}

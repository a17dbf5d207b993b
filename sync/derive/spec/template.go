package spec

import (
	"encoding/base64"
	"fmt"
	"strings"
	"text/template"
	"text/template/parse"
)

// Template is the kind whose value is a Go text/template over the
// account's fields and properties (TemplateData), for shapes the built-in
// kinds do not cover.
const Template = "template"

// MaxTemplateLen bounds a template's text; MaxTemplateOutput its value.
const (
	MaxTemplateLen    = 4096
	MaxTemplateOutput = 16 << 10
)

// TemplateData is what a template sees.
type TemplateData struct {
	// Name, ResourceGroup, Subscription, Type and Rule name the account.
	Name, ResourceGroup, Subscription, Type, Rule string
	// Active is the active key's field name, Key its value.
	Active, Key string
	// Keys are every field of the keys action's answer, by its name.
	Keys map[string]string
	// Props are the resource's properties a connection string names
	// (a Storage account's endpoints, a Redis cache's hostName and
	// sslPort), when the type has them.
	Props map[string]string
}

// templateFuncs are the functions a template may call besides the
// allowed built-ins (allowedBuiltins).
var templateFuncs = template.FuncMap{
	"base64":     func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
	"lower":      strings.ToLower,
	"upper":      strings.ToUpper,
	"trimSuffix": func(suffix, s string) string { return strings.TrimSuffix(s, suffix) },
}

// allowedBuiltins are text/template's own functions a template may call:
// none that calls a function value (call) or prints Go's view of data.
var allowedBuiltins = map[string]bool{"and": true, "or": true, "not": true, "eq": true, "ne": true, "index": true, "urlquery": true, "printf": true, "len": true}

// ParseTemplate parses a template's text and refuses any function outside
// the restricted set.
func ParseTemplate(text string) (*template.Template, error) {
	if text == "" || len(text) > MaxTemplateLen {
		return nil, fmt.Errorf("must be 1-%d bytes of Go template", MaxTemplateLen)
	}
	t, err := template.New("derived").Funcs(templateFuncs).Option("missingkey=error").Parse(text)
	if err != nil {
		// The parser quotes the text; a template may hold no secret,
		// but say only where.
		return nil, fmt.Errorf("does not parse: %s", strings.TrimPrefix(err.Error(), "template: "))
	}
	for _, tt := range t.Templates() {
		if tt.Tree == nil {
			continue
		}
		if name, ok := forbidden(tt.Root); ok {
			return nil, fmt.Errorf("calls %q, which templates may not (allowed: base64, lower, upper, trimSuffix, and, or, not, eq, ne, index, urlquery, printf, len)", name)
		}
	}
	return t, nil
}

// forbidden finds a function the restricted set lacks, or a template
// defined or called by name (which could recurse), in n.
func forbidden(n parse.Node) (string, bool) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return "", false
		}
		for _, c := range n.Nodes {
			if name, ok := forbidden(c); ok {
				return name, true
			}
		}
	case *parse.ActionNode:
		return forbidden(n.Pipe)
	case *parse.PipeNode:
		if n == nil {
			return "", false
		}
		for _, c := range n.Cmds {
			if name, ok := forbidden(c); ok {
				return name, true
			}
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			if name, ok := forbidden(a); ok {
				return name, true
			}
		}
	case *parse.IdentifierNode:
		if _, ours := templateFuncs[n.Ident]; !ours && !allowedBuiltins[n.Ident] {
			return n.Ident, true
		}
	case *parse.IfNode:
		return branch(n.Pipe, n.List, n.ElseList)
	case *parse.RangeNode:
		return branch(n.Pipe, n.List, n.ElseList)
	case *parse.WithNode:
		return branch(n.Pipe, n.List, n.ElseList)
	case *parse.TemplateNode:
		return "template " + n.Name, true
	}
	return "", false
}

func branch(pipe *parse.PipeNode, list, elseList *parse.ListNode) (string, bool) {
	for _, n := range []parse.Node{pipe, list, elseList} {
		if name, ok := forbidden(n); ok {
			return name, true
		}
	}
	return "", false
}

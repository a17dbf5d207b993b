package azure

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/keysync/keysync/internal/oneline"
	"github.com/keysync/keysync/sources"
)

// A row of a discovery's answer that names no resource keysync can sync is
// skipped, not the answer: one odd resource must not stop the discovery
// of every other. At most maxSkipped rows are (an answer with more is not
// read at all), each named by at most maxRowRunes of its id.
const (
	maxSkipped  = 1000
	maxRowRunes = 256
)

// graphRow is one row of an answer, a Resource Graph row or a list API's
// value, with the columns keysync reads. bad says why the row's id or
// tags could not be read: the row is skipped, not the page.
type graphRow struct {
	ID   string
	Tags map[string]string
	// endpoints are a Storage row's primaryEndpoints (kql.go), unread.
	endpoints map[string]json.RawMessage
	bad       string
}

// UnmarshalJSON reads a row; a row of another shape is marked bad, and
// never fails the page.
func (r *graphRow) UnmarshalJSON(b []byte) error {
	var raw struct {
		ID        json.RawMessage `json:"id"`
		Tags      json.RawMessage `json:"tags"`
		Endpoints json.RawMessage `json:"primaryEndpoints"`
	}
	switch {
	case json.Unmarshal(b, &raw) != nil:
		r.bad = "the row is not an object"
	case json.Unmarshal(raw.ID, &r.ID) != nil:
		r.bad = "the row's id is missing or not a string"
	case len(raw.Tags) > 0 && json.Unmarshal(raw.Tags, &r.Tags) != nil:
		r.bad = "the row's tags are not an object of strings"
	}
	if r.bad == "" && len(raw.Endpoints) > 0 && json.Unmarshal(raw.Endpoints, &r.endpoints) != nil {
		r.endpoints = nil // not an object: the account's GET will be asked
	}
	return nil
}

// add keeps a row, or skips it with the reason; an error is the whole
// discovery's.
func (d *discovery) add(r graphRow) error {
	f, err := d.row(r)
	if err != nil {
		return d.skip(r.ID, err)
	}
	k := f.Account.Key()
	if d.seen == nil {
		d.seen = map[string]bool{}
	}
	if d.seen[k] {
		return nil // pages may repeat a row when resources change meanwhile
	}
	if len(d.found) >= d.maxFound() {
		return &sources.Error{StatusCode: http.StatusOK, Code: "TooManyResults",
			Err: fmt.Errorf("more than %d resources found (max_accounts)", d.maxFound())}
	}
	d.seen[k] = true
	d.found = append(d.found, f)
	return nil
}

// row reads one row: its id parsed and checked against ARM's naming rules
// (sources.ParseResourceID), of the selector's type, from a subscription
// the request was sent for (when keysync knows them), and its tags.
func (d *discovery) row(r graphRow) (sources.Found, error) {
	if r.bad != "" {
		return sources.Found{}, errors.New(r.bad)
	}
	a, err := sources.ParseResourceID(r.ID)
	if err != nil {
		return sources.Found{}, err
	}
	if a.Type != strings.ToLower(d.sel.Type) {
		return sources.Found{}, fmt.Errorf("a %s resource, asked for %s", a.Type, d.sel.Type)
	}
	if d.scope != nil && !d.scope[strings.ToLower(a.SubscriptionID)] {
		return sources.Found{}, fmt.Errorf("subscription %s was not queried", a.SubscriptionID)
	}
	tags, err := d.kept(r.Tags)
	if err != nil {
		return sources.Found{}, err
	}
	f := sources.Found{Account: a, Tags: tags}
	if r.endpoints != nil && a.Spec().Provider == sources.Types["storage"].Provider {
		// Unusable endpoints are left to the account's GET, which
		// judges its own answer; the keys need none.
		f.Props, _ = endpointsOf(r.endpoints)
	}
	return f, nil
}

// kept checks a row's tags and returns those copy_tags names, each under
// its copy_tags name. ARM's tag names compare without case
// (learn.microsoft.com/azure/azure-resource-manager/management/tag-resources#limitations):
// names that differ only in case are one tag when their values are
// equal, and a row ARM could not hold when not. ARM refuses control
// characters in a tag name
// (learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules,
// Microsoft.Resources, tagNames); a copied value with one, or either not
// UTF-8, would land in Vault's metadata: such a row is skipped. A value
// over 256 bytes is not copied.
func (d *discovery) kept(tags map[string]string) (map[string]string, error) {
	for k := range tags {
		if !sources.NoControl(k) {
			return nil, fmt.Errorf("tag name %q holds a control character or is not UTF-8", clipRunes(k, 64))
		}
	}
	folded, clash := sources.FoldTags(tags)
	if clash != "" {
		return nil, fmt.Errorf("tag names differing only in case (%q) hold different values", clipRunes(clash, 64))
	}
	var out map[string]string
	for _, name := range d.sel.KeepTags {
		v, ok := folded[strings.ToLower(name)]
		if !ok || len(v) > 256 {
			continue
		}
		if !sources.NoControl(v) {
			return nil, fmt.Errorf("tag %q: value holds a control character or is not UTF-8", name)
		}
		if out == nil {
			out = map[string]string{}
		}
		out[name] = v
	}
	return out, nil
}

// skip records a skipped row, once however often pages repeat it.
func (d *discovery) skip(id string, why error) error {
	row := clipRunes(oneline.Clean(id), maxRowRunes)
	if id == "" {
		row = "(a row without an id)"
	}
	if d.seen == nil {
		d.seen = map[string]bool{}
	}
	k := "skipped|" + strings.ToLower(row)
	if d.seen[k] {
		return nil
	}
	if len(d.skipped) >= maxSkipped {
		return &sources.Error{StatusCode: http.StatusOK, Code: "MalformedAnswer",
			Err: fmt.Errorf("more than %d rows of the answer name no resource keysync can sync", maxSkipped)}
	}
	d.seen[k] = true
	d.skipped = append(d.skipped, sources.Skipped{Row: row, Reason: oneline.Clean(why.Error())})
	return nil
}

// clipRunes cuts s to n runes, with "…" after a cut.
func clipRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

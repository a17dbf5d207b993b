package armemu

import (
	"maps"
	"slices"
	"strings"
)

// queryCache keeps the rows of the last Resource Graph queries while the
// estate they came from is unchanged. A client pages through one answer
// with $skipToken, 1,000 rows a page: at a million resources, evaluating
// the query anew for each of its 1,000 pages would make the emulator, not
// the client, what a benchmark measures. Azure's own paging is of one
// consistent answer too ("the same query and scopes").
type queryCache struct {
	base    *listed              // the first of the listed resources the rows came from
	answers map[string][]*listed // by query text and the scope searched
}

// maxCachedQueries bounds the answers kept; a further one empties the
// cache.
const maxCachedQueries = 8

// queryRows is runQuery's answer, the resources in order, from the cache
// while the listed resources are the ones it came from.
func (e *Emulator) queryRows(text string, q *query, scope map[string]bool) []*listed {
	key := text + "\x00" + strings.Join(slices.Sorted(maps.Keys(scope)), ",")
	e.mu.Lock()
	all := e.listedResources()
	c := &e.disc.answers
	if len(all) == 0 || c.base != &all[0] || len(c.answers) >= maxCachedQueries {
		c.answers = map[string][]*listed{}
		c.base = nil
		if len(all) > 0 {
			c.base = &all[0]
		}
	}
	rows, ok := c.answers[key]
	e.mu.Unlock()
	if ok {
		return rows
	}
	found := e.runQuery(q, scope)
	rows = make([]*listed, len(found))
	for i, r := range found {
		rows[i] = r.l
	}
	e.mu.Lock()
	if len(all) > 0 && c.base == &all[0] {
		c.answers[key] = rows
	}
	e.mu.Unlock()
	return rows
}

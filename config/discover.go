package config

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/keysync/keysync/sources"
)

// Discovery engines, as `discovery =` names them.
const (
	DiscoveryResourceGraph = "resource-graph"
	DiscoveryARMList       = "arm-list"
)

// Discover is one [[discover]] block: the accounts a query finds, and the
// settings each of them gets, as an [[account]] would have them.
type Discover struct {
	// Name identifies the block in logs, metrics and conflicts;
	// "discover[i]" when empty.
	Name string `toml:"name"`
	// Type is a key of sources.Types; "batch" when empty.
	Type string `toml:"type"`
	// Subscriptions or ManagementGroup scope the query; neither means
	// every subscription the identity can see.
	Subscriptions   []string `toml:"subscriptions"`
	ManagementGroup string   `toml:"management_group"`
	ResourceGroups  []string `toml:"resource_groups"`
	// Tags must have these values; HasTags must be set; NotTags must not
	// have these values; LacksTags must be missing. Values compare
	// without case, as Azure Resource Graph's =~ does.
	Tags      map[string]string `toml:"tags"`
	HasTags   []string          `toml:"has_tags"`
	NotTags   map[string]string `toml:"not_tags"`
	LacksTags []string          `toml:"lacks_tags"`
	// CopyTags are Azure tags recorded in each secret's custom_metadata.
	CopyTags []string `toml:"copy_tags"`
	// Path is the path template (variables: sources.PathVariables).
	Path string `toml:"path"`
	// Discovery overrides the file's engine for this block.
	Discovery string `toml:"discovery"`
	// OnRemoved says what becomes of the secret of an account the query
	// no longer finds: "keep" (default), "mark" or "delete" (mark, then
	// delete after delete_after).
	OnRemoved string `toml:"on_removed"`
	// MaxRemovedFraction, when set, bounds this block's own removals in
	// place of the file's (a small block may need a looser one).
	MaxRemovedFraction *float64 `toml:"max_removed_fraction"`
	// MaxAccounts bounds what one run of the block may find (0:
	// sources.DefaultMaxFound); more fails the run, which then removes
	// nothing. It bounds the memory a hostile answer can take.
	MaxAccounts int `toml:"max_accounts"`
	// Settings are what each account found gets, as an [[account]]
	// would have them.
	Settings
}

// BlockName is the block's name, or discover[i] for the i-th block.
func (d Discover) BlockName(i int) string {
	if d.Name != "" {
		return d.Name
	}
	return fmt.Sprintf("discover[%d]", i)
}

// Selector is the query the block makes.
func (d Discover) Selector() sources.Selector {
	typ := d.Type
	if typ == "" {
		typ = sources.DefaultType
	}
	sel := sources.Selector{Type: strings.ToLower(typ), Subscriptions: d.Subscriptions, ManagementGroup: d.ManagementGroup,
		ResourceGroups: d.ResourceGroups, KeepTags: d.CopyTags, Max: d.MaxAccounts}
	add := func(m map[string]string, op sources.TagOp) {
		for _, k := range sortedKeys(m) {
			sel.Tags = append(sel.Tags, sources.TagMatch{Key: k, Op: op, Value: m[k]})
		}
	}
	add(d.Tags, sources.TagEquals)
	add(d.NotTags, sources.TagNotEquals)
	for _, k := range d.HasTags {
		sel.Tags = append(sel.Tags, sources.TagMatch{Key: k, Op: sources.TagPresent})
	}
	for _, k := range d.LacksTags {
		sel.Tags = append(sel.Tags, sources.TagMatch{Key: k, Op: sources.TagAbsent})
	}
	return sel
}

// Engine is the block's discovery engine.
func (d Discover) Engine(def string) string {
	if d.Discovery != "" {
		return d.Discovery
	}
	return def
}

var blockNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$`)

// validateDiscovery checks the discovery settings and every block.
func (c *Config) validateDiscovery(p *Problems) {
	if len(c.Discover) == 0 {
		return
	}
	oneOf(p, "discovery", c.Discovery, []string{DiscoveryResourceGraph, DiscoveryARMList})
	if c.DiscoverEvery.Duration < time.Minute {
		p.add("discover_every", "must be at least 1m (each discovery costs Resource Graph quota), got %s", c.DiscoverEvery.Duration)
	}
	checkFraction(p, "max_removed_fraction", c.MaxRemovedFraction)
	c.validateRemoval(p)
	names := map[string]int{}
	for i, d := range c.Discover {
		key := fmt.Sprintf("discover[%d]", i)
		d.validate(p, key, c.Discovery, c.Vault.Mount)
		name := d.BlockName(i)
		if j, dup := names[name]; dup {
			p.add(key+".name", "same name as discover[%d]: %q", j, name)
		}
		names[name] = i
	}
}

func (d *Discover) validate(p *Problems, key, defEngine, mount string) {
	if d.Name != "" && !blockNameRE.MatchString(d.Name) {
		p.add(key+".name", "must be 1-64 letters, digits, '_', '.', '-', got %q", cut(d.Name, 64))
	}
	if err := d.Selector().Validate(); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			p.add(key, "%s", line)
		}
	}
	if d.Path == "" {
		p.add(key+".path", "is required: a template such as \"azure/{type}/{subscription}/{resource_group}/{name}\"")
	} else {
		checkPathTemplate(p, key+".path", d.Path)
	}
	engine := d.Engine(defEngine)
	if d.Discovery != "" {
		oneOf(p, key+".discovery", d.Discovery, []string{DiscoveryResourceGraph, DiscoveryARMList})
	}
	if engine == DiscoveryARMList && d.ManagementGroup != "" {
		p.add(key+".management_group", "needs discovery = %q: ARM's list APIs search one subscription at a time", DiscoveryResourceGraph)
	}
	if d.OnRemoved != "" {
		oneOf(p, key+".on_removed", d.OnRemoved, []string{"keep", "mark", "delete"})
	}
	if d.MaxRemovedFraction != nil {
		checkFraction(p, key+".max_removed_fraction", *d.MaxRemovedFraction)
	}
	if d.MaxAccounts < 0 || d.MaxAccounts > sources.MaxMaxFound {
		p.add(key+".max_accounts", "must be between 1 and %d (0: %d), got %d", sources.MaxMaxFound, sources.DefaultMaxFound, d.MaxAccounts)
	}
	if d.Schedule != "" {
		checkSchedule(p, key+".schedule", d.Schedule)
	}
	d.validateSettings(p, key)
}

// validateSettings checks the per-account settings as an [[account]]'s.
func (d *Discover) validateSettings(p *Problems, key string) {
	typ := strings.ToLower(cmp.Or(d.Type, sources.DefaultType))
	if _, ok := sources.Types[typ]; !ok {
		return // the selector's check says so
	}
	d.Settings.validate(p, key, typ, " of every namespace found")
	d.validateDerived(p, key, typ, d.Path, true)
}

// checkPathTemplate checks a path template (a block's, or a derived
// value's in a block): its variables (sources.CheckPathTemplate), and the
// path it makes as a Vault path. It reports whether the template is valid.
func checkPathTemplate(p *Problems, key, tmpl string) bool {
	if err := sources.CheckPathTemplate(tmpl); err != nil {
		p.add(key, "%v", err)
		return false
	}
	sample, _ := sources.ExpandPath(tmpl, sources.Account{Type: "type", SubscriptionID: "subscription", ResourceGroup: "resource_group", Name: "name", Rule: "rule"})
	return checkVaultPath(p, key, sample)
}

// Bounds of the removal guard's window and of the wait before a delete.
const (
	// maxRemovalWindow bounds how long the daemon remembers removals.
	maxRemovalWindow = 30 * 24 * time.Hour
	// minDeleteAfter: a secret marked gone stays at least a day.
	minDeleteAfter = 24 * time.Hour
)

// validateRemoval checks the removal guard's window and delete_after. A
// secret deleted before the window has passed would drop out of what a
// process started anew recalls of the window's removals.
func (c *Config) validateRemoval(p *Problems) {
	w := c.RemovalWindow.Duration
	if w < c.DiscoverEvery.Duration || w > maxRemovalWindow {
		p.add("removal_window", "must be at least discover_every (%s) and at most %s, got %s", c.DiscoverEvery, Duration{maxRemovalWindow}, c.RemovalWindow)
	}
	if d := c.DeleteAfter.Duration; d < minDeleteAfter || d < w {
		p.add("delete_after", "must be at least %s and at least removal_window (%s), got %s", Duration{minDeleteAfter}, c.RemovalWindow, c.DeleteAfter)
	}
}

func checkFraction(p *Problems, key string, f float64) {
	if f < 0 || f > 1 || math.IsNaN(f) {
		p.add(key, "must be between 0 and 1, got %g", f)
	}
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

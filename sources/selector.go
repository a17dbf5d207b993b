package sources

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Selector says which resources a discovery finds: resources of one type,
// in some subscriptions (or every one the identity can see, or those under
// a management group), optionally some resource groups, whose tags match.
type Selector struct {
	// Type is a key of Types.
	Type string
	// Subscriptions are subscription ids; empty with no ManagementGroup
	// means every subscription the identity can see.
	Subscriptions []string
	// ManagementGroup is a management group id (not its display name).
	ManagementGroup string
	// ResourceGroups, when set, keep resources of these groups only
	// (compared without case, as ARM does).
	ResourceGroups []string
	// Tags must all hold, each compared without case in its name, as ARM
	// compares tag names, and in its value.
	Tags []TagMatch
	// KeepTags names the tags a found resource carries back (copy_tags);
	// others are not fetched, or dropped.
	KeepTags []string
	// Max bounds the resources found (max_accounts; 0: DefaultMaxFound):
	// more is an error, never a short list. It bounds what a hostile
	// answer can make keysync hold.
	Max int
}

// Bounds of Selector.Max: the default, and the most a block may ask for.
const (
	DefaultMaxFound = 500_000
	MaxMaxFound     = 5_000_000
)

// Found is a resource a discovery found: the account, and the tags of
// Selector.KeepTags it has, each under its KeepTags name.
type Found struct {
	Account Account
	Tags    map[string]string
	// Props, when not nil, are what a connection string names of the
	// resource (a Storage account's endpoints by service), as the
	// discovery's answer gave them and checked as the resource's own GET
	// answer is: a discovery that reads them spares a GET per account.
	Props map[string]string
}

// Skipped is a row of a discovery's answer that named no resource keysync
// can sync (a malformed or foreign id, ambiguous tags, a path it would
// not make), and why. Row is the row's id as one clean, bounded line.
// With Partial set it is instead an answer that covered only part of the
// block's scope (Resource Graph's subscription limit, a truncated
// answer): Row names the scope. Either way the block removes nothing.
type Skipped struct {
	Row     string
	Reason  string
	Partial bool
}

// TagOp is how a TagMatch compares.
type TagOp int

// The comparisons a tag selector makes.
const (
	// TagEquals: the tag's value is Value.
	TagEquals TagOp = iota
	// TagNotEquals: the tag is missing or its value is not Value.
	TagNotEquals
	// TagPresent: the tag is set to a non-empty value.
	TagPresent
	// TagAbsent: the tag is missing or empty.
	TagAbsent
)

// TagMatch is one condition on a resource's tags.
type TagMatch struct {
	Key   string
	Op    TagOp
	Value string
}

// Bounds of a selector, from ARM's rules: a tag name has at most 512
// characters and a value 256
// (learn.microsoft.com/azure/azure-resource-manager/management/tag-resources#limitations);
// a query names at most 1,000 subscriptions.
const (
	maxTagKey         = 512
	maxTagValue       = 256
	maxTags           = 50
	maxResourceGroups = 1000
	MaxSubscriptions  = 1000
	// MaxKeepTags and MaxKeepTagBytes bound copy_tags so that the tags
	// fit Vault's custom_metadata (64 keys of at most 128 bytes) beside
	// keysync's own entries and a prefix.
	MaxKeepTags     = 16
	MaxKeepTagBytes = 100
)

var (
	guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	// mgRE: a management group id is letters, digits, hyphens,
	// underscores, periods and parentheses, at most 90 characters.
	mgRE = regexp.MustCompile(`^[A-Za-z0-9_().-]{1,90}$`)
)

// Validate reports every problem with the selector at once.
func (s Selector) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if _, ok := Types[strings.ToLower(s.Type)]; !ok {
		add("type must be one of %s, got %q", strings.Join(TypeNames(), ", "), s.Type)
	}
	if len(s.Subscriptions) > 0 && s.ManagementGroup != "" {
		add("subscriptions and management_group exclude each other")
	}
	if len(s.Subscriptions) > MaxSubscriptions {
		add("at most %d subscriptions, got %d", MaxSubscriptions, len(s.Subscriptions))
	}
	for _, id := range s.Subscriptions {
		if !ValidSubscriptionID(id) {
			add("subscription %q is not a subscription id (a GUID)", clip(id))
		}
	}
	if s.ManagementGroup != "" && !mgRE.MatchString(s.ManagementGroup) {
		add("management_group %q is not a management group id", clip(s.ManagementGroup))
	}
	if len(s.ResourceGroups) > maxResourceGroups {
		add("at most %d resource groups, got %d", maxResourceGroups, len(s.ResourceGroups))
	}
	for _, rg := range s.ResourceGroups {
		if !ValidResourceGroup(rg) {
			add("resource group %q is not a valid name", clip(rg))
		}
	}
	if len(s.Tags) > maxTags {
		add("at most %d tag conditions, got %d", maxTags, len(s.Tags))
	}
	for _, m := range s.Tags {
		if err := m.validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(s.KeepTags) > MaxKeepTags {
		add("copy_tags: at most %d tags, got %d", MaxKeepTags, len(s.KeepTags))
	}
	for _, k := range s.KeepTags {
		if err := (TagMatch{Key: k, Op: TagPresent}).validate(); err != nil {
			errs = append(errs, err)
		} else if len(k) > MaxKeepTagBytes {
			add("copy_tags: tag name %q is longer than %d bytes", clip(k), MaxKeepTagBytes)
		}
	}
	return errors.Join(errs...)
}

func (m TagMatch) validate() error {
	switch {
	case m.Key == "" || utf8.RuneCountInString(m.Key) > maxTagKey:
		return fmt.Errorf("tag name must have 1 to %d characters", maxTagKey)
	case strings.ContainsAny(m.Key, `<>%&\?/`) || !NoControl(m.Key):
		return fmt.Errorf("tag name %q holds a character Azure refuses in tag names", clip(m.Key))
	case utf8.RuneCountInString(m.Value) > maxTagValue:
		return fmt.Errorf("tag %q: value longer than %d characters", clip(m.Key), maxTagValue)
	case !NoControl(m.Value):
		return fmt.Errorf("tag %q: value holds a control character", clip(m.Key))
	case (m.Op == TagEquals || m.Op == TagNotEquals) && m.Value == "":
		return fmt.Errorf("tag %q: an empty value never matches; select by presence or absence instead", clip(m.Key))
	case m.Op < TagEquals || m.Op > TagAbsent:
		return fmt.Errorf("tag %q: unknown comparison", clip(m.Key))
	}
	return nil
}

// MatchTags reports whether tags satisfy every condition, as the Resource
// Graph query (sources/azure's kql.go) does: names and values compared without case, a missing tag equal to an
// empty one. Discovery through ARM's list APIs, which cannot filter on
// tags, uses it. Tags that name one tag twice with different values
// (FoldTags) match nothing.
func (s Selector) MatchTags(tags map[string]string) bool {
	folded, clash := FoldTags(tags)
	return clash == "" && !slices.ContainsFunc(s.Tags, func(m TagMatch) bool { return !m.match(folded) })
}

func (m TagMatch) match(folded map[string]string) bool {
	v := folded[strings.ToLower(m.Key)]
	switch m.Op {
	case TagNotEquals:
		return !strings.EqualFold(v, m.Value)
	case TagPresent:
		return v != ""
	case TagAbsent:
		return v == ""
	default:
		return strings.EqualFold(v, m.Value)
	}
}

// FoldTags is tags under lower-case names, as ARM compares them. Names
// that differ only in case are one tag when their values are equal; when
// not, ARM could not hold them, and clash is one of those names.
func FoldTags(tags map[string]string) (folded map[string]string, clash string) {
	folded = make(map[string]string, len(tags))
	for k, v := range tags {
		lk := strings.ToLower(k)
		if prev, dup := folded[lk]; dup && prev != v {
			return nil, k
		}
		folded[lk] = v
	}
	return folded, ""
}

// ValidSubscriptionID reports whether id is a subscription id (a GUID).
func ValidSubscriptionID(id string) bool { return guidRE.MatchString(id) }

// NoControl reports whether s is valid UTF-8 without control characters.
func NoControl(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

// clip bounds a value quoted in an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

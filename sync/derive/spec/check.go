package spec

import (
	"fmt"
	"maps"
	"net"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Bounds on a SAS's life: long enough to be renewed by a sync (the
// shortest serves tests and demos), short enough that a leaked token dies.
const (
	MinExpiry = 30 * time.Second
	MaxExpiry = 365 * 24 * time.Hour
)

// Problem is one thing wrong with a Spec: the setting and what is wrong.
type Problem struct {
	Field, Msg string
}

// Permission letters each SAS takes, as the Azure SDK's sas package
// accepts them and in the order it writes them
// (learn.microsoft.com/rest/api/storageservices/create-account-sas,
// .../create-service-sas "Permissions for a container" and "for a blob").
const (
	accountLetters   = "rwdxylacuptfi"
	containerLetters = "racwdxltfmeopi"
	blobLetters      = "racwdxyltmeopi"
	resourceLetters  = "sco"
)

var (
	containerRE = regexp.MustCompile(`^[a-z0-9](-?[a-z0-9])*$`)
	entityRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]{0,259}$`)
)

// Check lists what is wrong with s for an account of type typ.
func Check(s Spec, typ string) []Problem {
	k, ok := kinds[s.Kind]
	if !ok {
		return []Problem{{"kind", fmt.Sprintf("must be one of %s, got %q", strings.Join(Kinds(), ", "), s.Kind)}}
	}
	if len(k.types) > 0 && !slices.Contains(k.types, typ) {
		return []Problem{{"kind", fmt.Sprintf("%s applies to type %s, not %s", s.Kind, strings.Join(k.types, ", "), typ)}}
	}
	var p []Problem
	add := func(field, format string, args ...any) { p = append(p, Problem{field, fmt.Sprintf(format, args...)}) }
	checkExpiry(s, k, add)
	if s.Kind == Template {
		if _, err := ParseTemplate(s.Template); err != nil {
			add("template", "%s", err.Error())
		}
	} else if s.Template != "" {
		add("template", "applies only to kind %s", Template)
	}
	checkStorage(s, add)
	if s.Kind == EventHubsSAS || s.Kind == ServiceBusSAS {
		if s.Entity != "" && !entityRE.MatchString(s.Entity) {
			add("entity", "must be 1-260 letters, digits, '.', '_', '-' or '/', got %q", s.Entity)
		}
	} else if s.Entity != "" {
		add("entity", "applies only to %s and %s", EventHubsSAS, ServiceBusSAS)
	}
	return p
}

// checkExpiry checks the life and renewal share: a SAS has both within
// bounds, another kind neither.
func checkExpiry(s Spec, k kind, add func(string, string, ...any)) {
	switch {
	case !k.expires && s.Expiry != 0:
		add("expiry", "does not apply to %s, which does not expire", s.Kind)
	case k.expires && (s.Expiry < MinExpiry || s.Expiry > MaxExpiry):
		add("expiry", "must be between %s and %s, got %s", MinExpiry, fmtDays(MaxExpiry), s.Expiry)
	}
	if s.RenewBefore < 0 || s.RenewBefore >= 1 || (!k.expires && s.RenewBefore != 0) {
		add("renew_before", "must be a share of a SAS's life above 0 and below 1, got %g", s.RenewBefore)
	}
}

// checkStorage checks a Storage SAS's settings, and that no other kind
// sets them.
func checkStorage(s Spec, add func(string, string, ...any)) {
	letters, resource := "", false
	switch s.Kind {
	case StorageAccountSAS:
		letters, resource = accountLetters, true
	case StorageServiceSAS:
		letters = containerLetters
		if s.Blob != "" {
			letters = blobLetters
		}
		if !containerRE.MatchString(s.Container) || len(s.Container) < 3 || len(s.Container) > 63 {
			add("container", "must name a container: 3-63 lower-case letters, digits and single '-', got %q", s.Container)
		}
		if len(s.Blob) > 1024 {
			add("blob", "is longer than 1024 characters")
		}
	}
	if letters == "" {
		for field, set := range map[string]bool{"permissions": s.Permissions != "", "resource_types": s.ResourceTypes != "",
			"container": s.Container != "", "blob": s.Blob != "", "ip_range": s.IPRange != "", "http": s.HTTP} {
			if set {
				add(field, "applies only to a Storage SAS")
			}
		}
		return
	}
	checkLetters(add, "permissions", s.Permissions, letters)
	if resource {
		checkLetters(add, "resource_types", s.ResourceTypes, resourceLetters)
	} else if s.ResourceTypes != "" {
		add("resource_types", "applies only to %s", StorageAccountSAS)
	}
	if _, _, err := ParseIPRange(s.IPRange); err != nil {
		add("ip_range", "%s", err.Error())
	}
}

// checkLetters refuses an empty set, a letter not in allowed, and a letter
// twice.
func checkLetters(add func(string, string, ...any), field, got, allowed string) {
	if got == "" {
		add(field, "must name at least one of %q", allowed)
	}
	for i, r := range got {
		switch {
		case !strings.ContainsRune(allowed, r):
			add(field, "letter %q is not one of %q", r, allowed)
		case strings.IndexRune(got, r) != i:
			add(field, "names %q twice", r)
		}
	}
}

// Kinds lists the kinds in order.
func Kinds() []string { return slices.Sorted(maps.Keys(kinds)) }

// KindsOf lists the kinds an account of type typ may derive.
func KindsOf(typ string) []string {
	var out []string
	for _, k := range Kinds() {
		if len(kinds[k].types) == 0 || slices.Contains(kinds[k].types, typ) {
			out = append(out, k)
		}
	}
	return out
}

func fmtDays(d time.Duration) string { return fmt.Sprintf("%dd", int(d.Hours()/24)) }

// ParseIPRange reads an ip_range: "a.b.c.d" or "a.b.c.d-e.f.g.h"; nil
// addresses for "".
func ParseIPRange(s string) (start, end net.IP, err error) {
	if s == "" {
		return nil, nil, nil
	}
	from, to, ranged := strings.Cut(s, "-")
	start = net.ParseIP(from)
	if ranged {
		end = net.ParseIP(to)
	}
	if start == nil || (ranged && end == nil) {
		return nil, nil, fmt.Errorf("ip_range must be an address or two joined by '-', got %q", s)
	}
	return start, end, nil
}

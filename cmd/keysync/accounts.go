package main

import (
	"strings"

	"github.com/keysync/keysync/config"
	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/account"
	"github.com/keysync/keysync/sync/scheduler"
)

// accounts turns the config's accounts of this shard into jobs with parsed
// schedules; the config has validated every schedule and the shard already.
func accounts(cfg *config.Config) []scheduler.Account {
	shard, _ := config.ParseShard(cfg.Shard)
	out := make([]scheduler.Account, 0, len(cfg.Accounts))
	schedules := scheduleCache{}
	for _, a := range cfg.Accounts {
		acct := detached(a.Source())
		acct.APIVersion = sources.APIVersionFor(acct, cfg.Azure.APIVersion)
		if !shard.Owns(acct.ResourceID()) {
			continue
		}
		spec := account.Intern(a.EffectiveSchedule(cfg.Schedule))
		label := acct.Name
		if a.Label != a.Name {
			label = strings.Clone(a.Label)
		}
		out = append(out, scheduler.Account{
			Job:   job(acct, strings.Clone(strings.Trim(a.Path, "/")), a.Settings),
			Label: label, Schedule: schedules.parse(spec),
		})
	}
	return out
}

// detached is a copy of a whose strings do not point into the config
// file's text (a decoder's strings do: keeping one would keep the whole
// file), with the values many accounts share interned.
func detached(a sources.Account) sources.Account {
	a.SubscriptionID, a.ResourceGroup, a.Type = account.Intern(a.SubscriptionID), account.Intern(a.ResourceGroup), account.Intern(a.Type)
	a.Rule, a.APIVersion, a.Name = account.Intern(a.Rule), account.Intern(a.APIVersion), strings.Clone(a.Name)
	return a
}

// detachedMap is a copy of m with interned strings, nil for nil.
func detachedMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[account.Intern(k)] = account.Intern(v)
	}
	return out
}

// scheduleCache parses each distinct cron spec once, so that the accounts
// of one spec share one schedule (cron's are values Next only reads).
type scheduleCache map[string]*scheduler.Schedule

// parse returns spec's schedule; the config has validated every spec.
func (c scheduleCache) parse(spec string) *scheduler.Schedule {
	if s, ok := c[spec]; ok {
		return s
	}
	s, err := config.ScheduleParser.Parse(spec)
	if err != nil {
		panic("config validated an unparsable schedule: " + spec)
	}
	c[spec] = &scheduler.Schedule{Spec: spec, Schedule: s}
	return c[spec]
}

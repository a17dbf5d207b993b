// Package derive makes the values keysync derives from an account's keys:
// connection strings and SAS tokens, signed or built with the key that is
// active. It is pure: a Spec, the keys, the resource's own properties and
// the time go in; a value, its expiry and whether it is new come out. No
// I/O, no clock, no logging.
//
// A value already held is kept while it is still exactly what the active
// key and the Spec would make with the held value's own start and expiry,
// and its renewal is not due: so an unchanged cycle writes nothing, and a
// value signed with a key that is no longer active (after a rotation) is
// made anew in the same sync.
package derive

import (
	"fmt"
	"time"

	"github.com/keysync/keysync/secret"
	"github.com/keysync/keysync/sync/derive/spec"
)

// Input is what a value is made from.
type Input struct {
	// AccountID is the resource's id; it spreads renewals (RenewAt).
	AccountID string
	// Name is the account's name, Rule its authorization rule; the
	// others name it further, for templates.
	Name, Rule                        string
	ResourceGroup, Subscription, Type string
	// Keys are the keys action's answer, by its own field names.
	Keys secret.Fields
	// Active is the field of the key values are made with.
	Active string
	// Props are the resource's own properties a connection string names:
	// a Storage account's endpoints by service ("blob", "queue", "table",
	// "file"), a Redis cache's "hostName" and "sslPort".
	Props map[string]string
	// Answered are the connection strings the resource's
	// listConnectionStrings answers, by keyKind/type ("Primary/Sql").
	Answered secret.Fields
	// Suffix is the cloud's Storage endpoint suffix (StorageSuffix).
	Suffix string

	// sum, when set, is inputSum of the fields above (Prepared).
	sum *[32]byte
}

// Result is a derived value and what keysync records of it.
type Result struct {
	Value secret.Value
	// Expires is the value's expiry; zero for one without.
	Expires time.Time
	// Fresh is true when the value was made now, false when the held one
	// is kept.
	Fresh bool
}

// maker is how one kind of value is made and checked.
type maker struct {
	// make makes the value valid from start (a SAS; ignored otherwise)
	// until expiry.
	make func(s spec.Spec, in Input, start, expiry time.Time) (string, error)
	// times reads a held value's start and expiry; ok is false when it
	// cannot be read. Nil for a value without times.
	times func(s spec.Spec, held string) (start, expiry time.Time, ok bool)
}

// makers are the kinds' makers by name.
var makers = map[string]maker{
	spec.StorageConnectionString: {make: storageConnectionString},
	spec.StorageAccountSAS:       {make: storageAccountSAS, times: storageSASTimes},
	spec.StorageServiceSAS:       {make: storageServiceSAS, times: storageSASTimes},
	spec.EventHubsSAS:            {make: busSAS, times: busSASTimes},
	spec.ServiceBusSAS:           {make: busSAS, times: busSASTimes},
	spec.ConnectionString:        {make: answeredConnectionString},
	spec.RedisConnectionString:   {make: redisConnectionString},
	spec.CosmosConnectionString:  {make: cosmosConnectionString},
	spec.Template:                {make: fromTemplate},
}

// StartSkew is how far before its making a SAS is valid from: the hosts
// that check it do not agree with keysync's clock to the second.
const StartSkew = 5 * time.Minute

// Derive returns the value s asks for: held when it is still exactly what
// in's active key makes and its renewal is not due at now, else a new one
// valid from now for s.Expiry. held is nil when Vault holds none. Its
// errors never quote a key or a value.
func Derive(s spec.Spec, in Input, held *secret.Value, now time.Time) (Result, error) {
	k, ok := makers[s.Kind]
	if !ok {
		return Result{}, fmt.Errorf("derived value %q: unknown kind %q", s.Name, s.Kind)
	}
	if held != nil {
		if exp, ok := k.verify(s, in, held.Reveal()); ok && (exp.IsZero() || now.Before(spec.RenewAt(s, in.AccountID, exp))) {
			return Result{Value: *held, Expires: exp}, nil
		}
	}
	now = now.UTC().Truncate(time.Second)
	var exp time.Time
	if s.Expires() {
		exp = now.Add(s.Expiry)
	}
	v, err := k.make(s, in, now.Add(-StartSkew), exp)
	if err != nil {
		return Result{}, fmt.Errorf("derived value %q: %w", s.Name, err)
	}
	return Result{Value: secret.New(v), Expires: exp, Fresh: true}, nil
}

// verify reports whether held is what in's active key and s make with
// held's own times, and its expiry.
func (k maker) verify(s spec.Spec, in Input, held string) (time.Time, bool) {
	var start, exp time.Time
	if k.times != nil {
		var ok bool
		if start, exp, ok = k.times(s, held); !ok {
			return time.Time{}, false
		}
	}
	v, err := k.make(s, in, start, exp)
	return exp, err == nil && v == held
}

// activeKey is the value of in's active key.
func (in Input) activeKey() (string, error) {
	v, ok := in.Keys[in.Active]
	if !ok || v.IsZero() {
		return "", fmt.Errorf("the keys hold no %q key", in.Active)
	}
	return v.Reveal(), nil
}

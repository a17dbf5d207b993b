package account

import (
	"github.com/keysync/keysync/sources"
	"github.com/keysync/keysync/sync/derive/spec"
	"github.com/keysync/keysync/sync/plan"
)

// Job is one account to keep in sync with one path.
//
// Discovery makes them, the estate hands them to the scheduler, the
// scheduler to the runner: every layer speaks of an account in Jobs, and
// only the scheduler keeps them in a form of its own (packed).
type Job struct {
	Account sources.Account
	Path    string
	Adopt   bool
	// Absent is true when a survey of the sink found nothing at Path just
	// before the job's run (runner.Runner.Survey): its first read is
	// skipped and a create planned. Only a saving: the create checks and
	// sets at version 0, so a secret there fails it and the job reads.
	Absent bool
	// Fields, when set, selects and renames the source's fields: response
	// name -> Vault name.
	Fields map[string]string
	// Rotate, when set, regenerates the inactive key every period.
	Rotate *plan.Rotation
	// Tags, when not nil, are Azure tags to record in the metadata.
	Tags map[string]string
	// Origin, when set, is the [[discover]] block that found the account.
	Origin *Origin
	// Derived are the values made from the account's active key
	// (sync/runner/derived.go); all the accounts of one entry share the
	// slice.
	Derived []spec.Spec
	// Remove, when set, makes this the job of an account discovery no
	// longer finds: its secret is kept, marked or deleted (plan.Remove*).
	Remove string
	// Props, when not nil, are the account's properties as the discovery
	// that found it read them (sources.Found.Props), set only when its
	// derived values read properties: the runner takes them instead of
	// asking the resource's GET.
	Props map[string]string
}

// Origin is a [[discover]] block as the secrets it finds record it: its
// name, and a fingerprint of its query and path template (plan.Desired's
// DiscoveredBy and DiscoveryScope). All the block's jobs share one.
type Origin struct {
	Block, Scope string
}

// Key is the job's account key.
func (j Job) Key() Key { return KeyOf(j.Account, j.Path) }

// Package spec says what a derived value is: its kinds, the settings each
// takes and their bounds (Check, for --validate), and when a SAS is renewed
// (RenewAt). It is a leaf, so that the config loader checks derived
// values without linking the signing code (package derive).
package spec

import (
	"time"
)

// The kinds of value keysync derives, by the name kind takes in the file.
const (
	// StorageConnectionString is a Storage account's connection string.
	StorageConnectionString = "storage-connection-string"
	// StorageAccountSAS is a Storage account SAS for the Blob service.
	StorageAccountSAS = "storage-account-sas"
	// StorageServiceSAS is a Blob service SAS for a container, or one
	// blob in it.
	StorageServiceSAS = "storage-service-sas"
	// EventHubsSAS and ServiceBusSAS are SAS tokens for a namespace or
	// one of its entities, signed with the authorization rule's key.
	EventHubsSAS  = "eventhubs-sas"
	ServiceBusSAS = "servicebus-sas"
	// RedisConnectionString is a Redis cache's StackExchange.Redis
	// connection string: host, SSL port, password, ssl=True.
	RedisConnectionString = "redis-connection-string"
	// CosmosConnectionString is the Cosmos DB account's SQL connection
	// string of the active key, as listConnectionStrings answers it.
	CosmosConnectionString = "cosmosdb-connection-string"
	// ConnectionString is the connection string the keys action itself
	// answers (Event Hubs, Service Bus, SignalR), the active key's.
	ConnectionString = "connection-string"
)

// Spec is one derived value an account asks for.
type Spec struct {
	// Name is the value's field in Vault.
	Name string
	Kind string
	// Path, when set, is a Vault path of its own for the value, so that a
	// consumer's policy may grant it without the account's keys.
	Path string
	// Permissions are the SAS's permission letters, in the service's
	// spelling ("rl").
	Permissions string
	// ResourceTypes are an account SAS's resource types ("sco").
	ResourceTypes string
	// Container and Blob name a service SAS's resource: the container,
	// and one blob in it when Blob is set.
	Container, Blob string
	// Entity names the event hub, queue or topic of an Event Hubs or
	// Service Bus SAS; empty signs for the whole namespace.
	Entity string
	// IPRange, when set, is the addresses a Storage SAS is good from:
	// "168.1.5.65" or "168.1.5.60-168.1.5.70".
	IPRange string
	// HTTP allows a Storage SAS over http too; https only when false.
	HTTP bool
	// Expiry is a SAS's life; zero for a connection string.
	Expiry time.Duration
	// RenewBefore is the share of a SAS's life left when its renewal
	// window opens (DefaultRenewBefore when zero).
	RenewBefore float64
	// Template is the Go text/template of a template kind (template.go).
	Template string
}

// Expires reports whether the kind makes a value with an expiry.
func (s Spec) Expires() bool { return kinds[s.Kind].expires }

// NeedsProperties reports whether the kind is made from the resource's
// own properties (its GET): endpoints, host names.
func (s Spec) NeedsProperties() bool { return kinds[s.Kind].needs == needsProperties }

// NeedsConnectionStrings reports whether the kind is taken from the
// resource's listConnectionStrings answer.
func (s Spec) NeedsConnectionStrings() bool { return kinds[s.Kind].needs == needsConnectionStrings }

// What a kind is made from besides the keys.
const (
	needsProperties = iota + 1
	needsConnectionStrings
)

// kind is what the file may set for one kind of value.
type kind struct {
	// types are the account types the kind applies to; none means all.
	types []string
	// expires says the kind has an expiry (a SAS).
	expires bool
	// needs is what the kind is made from besides the keys.
	needs int
}

// kinds are the kinds by name.
var kinds = map[string]kind{
	StorageConnectionString: {types: []string{"storage"}, needs: needsProperties},
	RedisConnectionString:   {types: []string{"redis"}, needs: needsProperties},
	CosmosConnectionString:  {types: []string{"cosmosdb"}, needs: needsConnectionStrings},
	StorageAccountSAS:       {types: []string{"storage"}, expires: true},
	StorageServiceSAS:       {types: []string{"storage"}, expires: true},
	EventHubsSAS:            {types: []string{"eventhubs"}, expires: true},
	ServiceBusSAS:           {types: []string{"servicebus"}, expires: true},
	ConnectionString:        {types: []string{"eventhubs", "servicebus", "signalr"}},
	Template:                {},
}

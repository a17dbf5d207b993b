package sources

import (
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Type is one kind of Azure resource whose keys keysync reads: where its
// keys action lives in ARM, which api-version it speaks, which fields of
// the answer are keys, and how its resources may be named. Adding a kind is
// adding an entry to Types, not a code path.
type Type struct {
	// Provider is the resource type, such as "Microsoft.Batch/batchAccounts".
	Provider string
	// Child, when set, names a sub-resource that Account.Rule picks, such
	// as "authorizationRules" for Event Hubs and Service Bus.
	Child string
	// Action is the POST action that returns the keys.
	Action string
	// APIVersion is a stable version from Azure's REST specs.
	APIVersion string
	// Regenerate is the POST action that regenerates one key, a sibling of
	// Action (Search names the key in the path after it). Its operation,
	// Provider[/Child]/Regenerate/action, is what Azure's activity log and
	// Event Grid report when the keys change.
	Regenerate string
	// Rotation is how Regenerate names a key, what it renews and how it
	// answers.
	Rotation KeyRotation
	// Fields are the response's own names of the keys keysync takes.
	// KeysArray instead takes a "keys" array of {keyName, value}: each
	// entry becomes a field named by its keyName (Storage).
	Fields    []string
	KeysArray bool
	// KeyFormat is the documented format of the key values (KeyBase64),
	// or KeyText where Azure documents none; see CheckKey.
	KeyFormat string
	// NameField, when set, names a response field that must equal the
	// account's name.
	NameField string
	// Name rules: the pattern and the length, in characters.
	NameRE         *regexp.Regexp
	MinLen, MaxLen int
}

// Types are the kinds keysync reads, by the name [[account]] type uses.
//
// Actions and api-versions are from Azure's REST API specs
// (github.com/Azure/azure-rest-api-specs, specification/...); each
// api-version is the newest stable one whose file defines the keys and
// regenerate actions with the request and answer keysync speaks:
//   - batch: batch/resource-manager/Microsoft.Batch/Batch/stable/2026-08-01/openapi.json
//     (BatchAccount_GetKeys listKeys, BatchAccount_RegenerateKey
//     regenerateKeys, both 200 BatchAccountKeys; examples/BatchAccountGetKeys.json)
//   - storage: storage/resource-manager/Microsoft.Storage/Storage/stable/2026-06-01/openapi.json
//     (StorageAccounts_ListKeys listKeys, StorageAccounts_RegenerateKey
//     regenerateKey, both 200 StorageAccountListKeysResult)
//   - cosmosdb: cosmos-db/resource-manager/Microsoft.DocumentDB/DocumentDB/stable/2025-10-15/cosmos-db.json
//     (DatabaseAccounts_ListKeys listKeys, DatabaseAccounts_RegenerateKey
//     regenerateKey; examples/CosmosDBDatabaseAccountListKeys.json)
//   - redis: redis/resource-manager/Microsoft.Cache/stable/2024-11-01/redis.json
//     (listKeys, regenerateKey); the newest stable Redis file
//   - cognitive: cognitiveservices/resource-manager/Microsoft.CognitiveServices/CognitiveServices/stable/2025-09-01/cognitiveservices.json
//     (Accounts_ListKeys listKeys, Accounts_RegenerateKey regenerateKey,
//     both 200 ApiKeys)
//   - search: search/resource-manager/Microsoft.Search/Search/stable/2025-05-01/search.json
//     (AdminKeys_Get listAdminKeys, AdminKeys_Regenerate
//     regenerateAdminKey/{keyKind}, both 200 AdminKeyResult)
//   - eventhubs: eventhub/resource-manager/Microsoft.EventHub/Eventhub/stable/2026-01-01/openapi.json
//     (Namespaces_ListKeys, Namespaces_RegenerateKeys
//     authorizationRules/{rule}/regenerateKeys, both 200 AccessKeys)
//   - servicebus: servicebus/resource-manager/Microsoft.ServiceBus/ServiceBus/stable/2026-01-01/servicebus.json
//     (Namespaces_ListKeys, Namespaces_RegenerateKeys, both 200
//     AccessKeys; the file spells the segment AuthorizationRules, and ARM
//     matches path segments without case)
//   - maps: maps/resource-manager/Microsoft.Maps/stable/2023-06-01/maps-management.json
//     (Accounts_ListKeys, Accounts_RegenerateKeys regenerateKey); the
//     newest stable Maps file
//   - signalr: signalr/resource-manager/Microsoft.SignalRService/stable/2024-03-01/signalr.json
//     (SignalR_ListKeys, SignalR_RegenerateKey regenerateKey); the newest
//     stable SignalR file
//
// The versions keysync spoke before (batch 2024-02-01, storage
// 2023-05-01, cosmosdb 2024-11-15, cognitive 2024-10-01, search
// 2023-11-01, eventhubs 2024-01-01, servicebus 2021-11-01) define the same
// requests and answers; an account, or [azure] for Batch, may still name
// one with api_version.
//
// Rotation, from the same files: the body field and the names each
// regenerate action takes, in the service's own spelling and case, are
// batch BatchAccountRegenerateKeyParameters.keyName "Primary"|"Secondary";
// storage StorageAccountRegenerateKeyParameters.keyName "key1"|"key2"
// (examples/StorageAccountRegenerateKey.json; "kerb1"|"kerb2" exist too,
// but listKeys answers Kerberos keys only with $expand=kerb, which keysync
// does not ask for, so they are neither read nor rotated); cosmos-db
// DatabaseAccountRegenerateKeyParameters.keyKind "primary"|"secondary"|
// "primaryReadonly"|"secondaryReadonly", x-ms-long-running-operation: 200
// or 202 with Location and Azure-AsyncOperation
// (examples/CosmosDBDatabaseAccountRegenerateKey.json); redis
// RedisRegenerateKeyParameters.keyType "Primary"|"Secondary"
// (examples/RedisCacheRegenerateKey.json); cognitiveservices
// RegenerateKeyParameters.keyName "Key1"|"Key2" (examples/RegenerateKey.json);
// search keyKind "primary"|"secondary" in the path; eventhub and servicebus
// RegenerateAccessKeyParameters.keyType "PrimaryKey"|"SecondaryKey", whose
// answer's connection strings change with their key; maps
// KeySpecification.keyType "primary"|"secondary"
// (examples/RegenerateKey.json); signalr RegenerateKeyParameters.keyType
// "Primary"|"Secondary", long-running: 200 or 202 with Location and
// Azure-AsyncOperation (examples/SignalR_RegenerateKey.json).
//
// KeyFormat is base64 only where Azure documents it: a Batch key is "the
// access key of the Batch account, as a Base64-encoded string"
// (learn.microsoft.com/dotnet/api/microsoft.azure.batch.protocol.batchsharedkeycredential);
// Storage and Cosmos DB sign requests with the base64-decoded key
// (learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key,
// learn.microsoft.com/rest/api/cosmos-db/access-control-on-cosmosdb-resources).
var Types = map[string]Type{
	"batch": {Provider: "Microsoft.Batch/batchAccounts", Action: "listKeys", Regenerate: "regenerateKeys", APIVersion: "2026-08-01",
		Rotation: KeyRotation{BodyKey: "keyName", Names: map[string]string{"primary": "Primary", "secondary": "Secondary"},
			Pairs: onePair("primary", "secondary")},
		Fields: []string{"primary", "secondary"}, NameField: "accountName", KeyFormat: KeyBase64,
		NameRE: regexp.MustCompile(`^[a-zA-Z0-9]+$`), MinLen: 3, MaxLen: 24},
	"storage": {Provider: "Microsoft.Storage/storageAccounts", Action: "listKeys", Regenerate: "regenerateKey", APIVersion: "2026-06-01",
		Rotation:  KeyRotation{BodyKey: "keyName", Names: map[string]string{"key1": "key1", "key2": "key2"}, Pairs: onePair("key1", "key2")},
		KeysArray: true, KeyFormat: KeyBase64, NameRE: regexp.MustCompile(`^[a-z0-9]+$`), MinLen: 3, MaxLen: 24},
	"cosmosdb": {Provider: "Microsoft.DocumentDB/databaseAccounts", Action: "listKeys", Regenerate: "regenerateKey", APIVersion: "2025-10-15",
		Rotation: KeyRotation{BodyKey: "keyKind", Async: true,
			Names: map[string]string{"primaryMasterKey": "primary", "secondaryMasterKey": "secondary",
				"primaryReadonlyMasterKey": "primaryReadonly", "secondaryReadonlyMasterKey": "secondaryReadonly"},
			Pairs: []KeyPair{{Name: "readwrite", Keys: [2]string{"primaryMasterKey", "secondaryMasterKey"}},
				{Name: "readonly", Keys: [2]string{"primaryReadonlyMasterKey", "secondaryReadonlyMasterKey"}}}},
		Fields:    []string{"primaryMasterKey", "secondaryMasterKey", "primaryReadonlyMasterKey", "secondaryReadonlyMasterKey"},
		KeyFormat: KeyBase64, NameRE: regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`), MinLen: 3, MaxLen: 44},
	"redis": {Provider: "Microsoft.Cache/redis", Action: "listKeys", Regenerate: "regenerateKey", APIVersion: "2024-11-01",
		Rotation: KeyRotation{BodyKey: "keyType", Names: map[string]string{"primaryKey": "Primary", "secondaryKey": "Secondary"}, Pairs: primarySecondaryPair},
		Fields:   []string{"primaryKey", "secondaryKey"}, NameRE: regexp.MustCompile(`^[a-zA-Z0-9]+(-[a-zA-Z0-9]+)*$`), MinLen: 1, MaxLen: 63},
	"cognitive": {Provider: "Microsoft.CognitiveServices/accounts", Action: "listKeys", Regenerate: "regenerateKey", APIVersion: "2025-09-01",
		Rotation: KeyRotation{BodyKey: "keyName", Names: map[string]string{"key1": "Key1", "key2": "Key2"}, Pairs: onePair("key1", "key2")},
		Fields:   []string{"key1", "key2"}, NameRE: regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`), MinLen: 2, MaxLen: 64},
	"search": {Provider: "Microsoft.Search/searchServices", Action: "listAdminKeys", Regenerate: "regenerateAdminKey", APIVersion: "2025-05-01",
		Rotation: KeyRotation{InPath: true, Names: map[string]string{"primaryKey": "primary", "secondaryKey": "secondary"}, Pairs: primarySecondaryPair},
		Fields:   []string{"primaryKey", "secondaryKey"}, NameRE: regexp.MustCompile(`^[a-z0-9]([a-z0-9]|-[a-z0-9])*$`), MinLen: 2, MaxLen: 60},
	"eventhubs": {Provider: "Microsoft.EventHub/namespaces", Child: "authorizationRules", Action: "listKeys", Regenerate: "regenerateKeys", APIVersion: "2026-01-01",
		Rotation: KeyRotation{BodyKey: "keyType", Names: map[string]string{"primaryKey": "PrimaryKey", "secondaryKey": "SecondaryKey"},
			Renews: connStrings, Pairs: primarySecondaryPair},
		Fields: []string{"primaryKey", "secondaryKey", "primaryConnectionString", "secondaryConnectionString"},
		NameRE: regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]*[a-zA-Z0-9]$`), MinLen: 6, MaxLen: 50},
	"servicebus": {Provider: "Microsoft.ServiceBus/namespaces", Child: "authorizationRules", Action: "listKeys", Regenerate: "regenerateKeys", APIVersion: "2026-01-01",
		Rotation: KeyRotation{BodyKey: "keyType", Names: map[string]string{"primaryKey": "PrimaryKey", "secondaryKey": "SecondaryKey"},
			Renews: connStrings, Pairs: primarySecondaryPair},
		Fields: []string{"primaryKey", "secondaryKey", "primaryConnectionString", "secondaryConnectionString"},
		NameRE: regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]*[a-zA-Z0-9]$`), MinLen: 6, MaxLen: 50},
	"maps": {Provider: "Microsoft.Maps/accounts", Action: "listKeys", Regenerate: "regenerateKey", APIVersion: "2023-06-01",
		Rotation: KeyRotation{BodyKey: "keyType", Names: map[string]string{"primaryKey": "primary", "secondaryKey": "secondary"}, Pairs: primarySecondaryPair},
		Fields:   []string{"primaryKey", "secondaryKey"}, NameRE: regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]*$`), MinLen: 1, MaxLen: 98},
	"signalr": {Provider: "Microsoft.SignalRService/signalR", Action: "listKeys", Regenerate: "regenerateKey", APIVersion: "2024-03-01",
		Rotation: KeyRotation{BodyKey: "keyType", Async: true, Names: map[string]string{"primaryKey": "Primary", "secondaryKey": "Secondary"},
			Renews: connStrings, Pairs: primarySecondaryPair},
		Fields: []string{"primaryKey", "secondaryKey", "primaryConnectionString", "secondaryConnectionString"},
		NameRE: regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]*[a-zA-Z0-9]$`), MinLen: 3, MaxLen: 63},
}

// DefaultType is the type of an account that names none.
const DefaultType = "batch"

// TypeNames lists the types in order.
func TypeNames() []string {
	names := make([]string, 0, len(Types))
	for n := range Types {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ruleRE is the pattern of an authorization rule's name.
var ruleRE = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

// ValidName reports whether name may name a resource of this type.
func (t Type) ValidName(name string) bool {
	n := utf8.RuneCountInString(name)
	return n >= t.MinLen && n <= t.MaxLen && t.NameRE.MatchString(name)
}

// ValidRule reports whether rule may name an authorization rule.
func ValidRule(rule string) bool {
	return len(rule) >= 1 && len(rule) <= 50 && ruleRE.MatchString(rule)
}

// fieldNameRE bounds a field's name in Vault, whether the file renames a
// field to it or an answer names it (Storage's keyName).
var fieldNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// ValidFieldName reports whether name may name a field in Vault.
func ValidFieldName(name string) bool { return fieldNameRE.MatchString(name) }

// APIVersionFor is the api-version keysync speaks for a: the account's own
// ([[account]] api_version), else for the default type the configured one
// ([azure] api_version, which predates the other types and names Batch's),
// else the type's pinned one. configured may be empty.
func APIVersionFor(a Account, configured string) string {
	t := a.Spec()
	switch {
	case a.APIVersion != "":
		return a.APIVersion
	case configured != "" && t.Provider == Types[DefaultType].Provider:
		return configured
	}
	return t.APIVersion
}

// KnownFields are the field names a type's answer can hold; nil when they
// depend on the answer (Storage's keys array).
func (t Type) KnownFields() []string {
	if t.KeysArray {
		return nil
	}
	return t.Fields
}

// typeOf returns the account's type entry, DefaultType when it names none.
func typeOf(name string) Type {
	if name == "" {
		name = DefaultType
	}
	return Types[strings.ToLower(name)]
}

package armemu

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Type is one kind of resource the emulator serves, written from Azure's
// REST API specs (github.com/Azure/azure-rest-api-specs) and from nothing
// keysync holds, so that a wrong entry in keysync's own table is caught by
// a test rather than mirrored by the emulator.
type Type struct {
	// Provider is the resource provider namespace and resource type.
	Provider string
	// Child names the sub-resource that holds the keys; Resource.Rule
	// picks it (authorizationRules for Event Hubs and Service Bus).
	Child string
	// ListAction is the POST action that answers the keys.
	ListAction string
	// APIVersions are the stable api-versions the emulator accepts, the
	// newest first: each one's spec file defines the keys and regenerate
	// actions as the entry describes them. Any other is refused as ARM
	// refuses it (InvalidApiVersionParameter).
	APIVersions []string
	// Keys are the answer's key fields: the first the primary key, the
	// second the secondary.
	Keys []string
	// KeysArray: the answer is {"keys": [{keyName, value, permissions}]},
	// one entry per Keys, keyName being the key's name (Storage).
	KeysArray bool
	// NameField, RuleField and IDField name answer fields holding the
	// resource's name, the authorization rule's name and the resource id.
	NameField, RuleField, IDField string
	// ConnStrings maps a key field to the connection-string field built on
	// it; Conn builds one.
	ConnStrings map[string]string
	Conn        func(r Resource, key string) string
	// KeyBytes is a generated key's size before base64; 0 means 64.
	KeyBytes int
	// Regenerate is the type's regenerate action.
	Regenerate Regenerate
	// Disabled is the CloudError answered when key authentication is off.
	// The specs name no error codes: these follow each service's docs.
	Disabled Disabled
}

// Regenerate is a type's regenerate action: where the key to regenerate is
// named, which names the spec accepts, and how it answers.
type Regenerate struct {
	// Action is the POST action's path segment.
	Action string
	// InPath: the key is named by the path segment after Action (Search);
	// otherwise by the request body's BodyKey.
	InPath  bool
	BodyKey string
	// Values maps each name the spec accepts to the key field it renews.
	Values map[string]string
	// Answer is AnswerKeys or AnswerAsync.
	Answer string
}

// Disabled is the CloudError a type answers when its keys are switched off.
type Disabled struct {
	Status int
	Code   string
}

// Regenerate answers.
const (
	// AnswerKeys: 200 with the keys after the change, as listKeys answers.
	AnswerKeys = "keys"
	// AnswerAsync: a long-running operation, 202 Accepted or 200 with no
	// keys. The emulator answers 202 and an operation to poll (lro.go).
	AnswerAsync = "async"
)

// DefaultType is the type of a Resource that names none.
const DefaultType = "batch"

// sbConn is the connection string of an Event Hubs or Service Bus rule, as
// the specs' examples show it (Service Bus 2021-11-01
// examples/Queues/SBQueueAuthorizationRuleRegenerateKey.json).
func sbConn(r Resource, key string) string {
	return fmt.Sprintf("Endpoint=sb://%s.servicebus.windows.net/;SharedAccessKeyName=%s;SharedAccessKey=%s", r.Name, r.Rule, key)
}

// signalRConn is a SignalR connection string; the spec gives no example
// value, the format is learn.microsoft.com/azure/azure-signalr/concept-connection-string.
func signalRConn(r Resource, key string) string {
	return fmt.Sprintf("Endpoint=https://%s.service.signalr.net;AccessKey=%s;Version=1.0;", r.Name, key)
}

// primarySecondary are the fields most types answer.
var primarySecondary = []string{"primaryKey", "secondaryKey"}

// Types are the kinds of resource the emulator serves, by the name keysync's
// [[account]] type uses. Paths cited are under
// github.com/Azure/azure-rest-api-specs/specification/.
var Types = map[string]Type{
	// batch/resource-manager/Microsoft.Batch/Batch/stable/2026-08-01/openapi.json
	// (and .../Microsoft.Batch/stable/2024-02-01/BatchManagement.json):
	// BatchAccount_GetKeys (POST listKeys) and BatchAccount_RegenerateKey
	// (POST regenerateKeys) both answer 200 BatchAccountKeys {accountName,
	// primary, secondary} (examples/BatchAccountGetKeys.json);
	// BatchAccountRegenerateKeyParameters.keyName is an AccountKeyType,
	// "Primary" or "Secondary".
	"batch": {Provider: "Microsoft.Batch/batchAccounts", ListAction: "listKeys", APIVersions: []string{"2026-08-01", "2024-02-01"},
		Keys: []string{"primary", "secondary"}, NameField: "accountName",
		Regenerate: Regenerate{Action: "regenerateKeys", BodyKey: "keyName", Answer: AnswerKeys,
			Values: map[string]string{"Primary": "primary", "Secondary": "secondary"}},
		Disabled: Disabled{http.StatusConflict, "OperationNotAllowed"}},
	// storage/resource-manager/Microsoft.Storage/Storage/stable/2026-06-01/openapi.json
	// (and .../Microsoft.Storage/stable/2023-05-01/
	// Storage.Management/StorageAccount.tsp): StorageAccounts_ListKeys
	// (POST listKeys) and StorageAccounts_RegenerateKey (POST
	// regenerateKey, body StorageAccountRegenerateKeyParameters) answer
	// 200 StorageAccountListKeysResult;
	// examples/StorageAccountListKeys.json and StorageAccountRegenerateKey.json
	// show {"keys": [{keyName "key1"|"key2", permissions "Full", value}]}
	// and the body {"keyName": "key2"}. The spec also accepts kerb1 and
	// kerb2, Kerberos keys of AD-enabled accounts, which are not emulated.
	"storage": {Provider: "Microsoft.Storage/storageAccounts", ListAction: "listKeys", APIVersions: []string{"2026-06-01", "2023-05-01"},
		Keys: []string{"key1", "key2"}, KeysArray: true,
		Regenerate: Regenerate{Action: "regenerateKey", BodyKey: "keyName", Answer: AnswerKeys,
			Values: map[string]string{"key1": "key1", "key2": "key2"}},
		Disabled: Disabled{http.StatusConflict, "KeyBasedAuthenticationNotPermitted"}},
	// cosmos-db/resource-manager/Microsoft.DocumentDB/DocumentDB/stable/2025-10-15/cosmos-db.json
	// (and .../Microsoft.DocumentDB/stable/2024-11-15/cosmos-db.json):
	// DatabaseAccounts_ListKeys (POST listKeys) answers
	// DatabaseAccountListKeysResult (examples/CosmosDBDatabaseAccountListKeys.json);
	// DatabaseAccounts_RegenerateKey (POST regenerateKey, body keyToRegenerate
	// {keyKind}) is x-ms-long-running-operation: 200 with no body or 202
	// (examples/CosmosDBDatabaseAccountRegenerateKey.json).
	"cosmosdb": {Provider: "Microsoft.DocumentDB/databaseAccounts", ListAction: "listKeys", APIVersions: []string{"2025-10-15", "2024-11-15"},
		Keys: []string{"primaryMasterKey", "secondaryMasterKey", "primaryReadonlyMasterKey", "secondaryReadonlyMasterKey"},
		Regenerate: Regenerate{Action: "regenerateKey", BodyKey: "keyKind", Answer: AnswerAsync,
			Values: map[string]string{"primary": "primaryMasterKey", "secondary": "secondaryMasterKey",
				"primaryReadonly": "primaryReadonlyMasterKey", "secondaryReadonly": "secondaryReadonlyMasterKey"}},
		Disabled: Disabled{http.StatusForbidden, "LocalAuthDisabled"}},
	// redis/resource-manager/Microsoft.Cache/stable/2024-11-01/redis.json,
	// examples/RedisCacheListKeys.json (POST listKeys, 200 {primaryKey,
	// secondaryKey}) and examples/RedisCacheRegenerateKey.json (POST
	// regenerateKey, body {"keyType": "Primary"}, 200 with the keys).
	"redis": {Provider: "Microsoft.Cache/redis", ListAction: "listKeys", APIVersions: []string{"2024-11-01"},
		Keys: primarySecondary,
		Regenerate: Regenerate{Action: "regenerateKey", BodyKey: "keyType", Answer: AnswerKeys,
			Values: map[string]string{"Primary": "primaryKey", "Secondary": "secondaryKey"}},
		Disabled: Disabled{http.StatusBadRequest, "DisableLocalAuth"}},
	// cognitiveservices/resource-manager/Microsoft.CognitiveServices/CognitiveServices/stable/2025-09-01/cognitiveservices.json:
	// Accounts_ListKeys (POST listKeys) and Accounts_RegenerateKey (POST
	// regenerateKey, body RegenerateKeyParameters {keyName "Key1"|"Key2"})
	// both answer 200 ApiKeys {key1, key2}; so do the 2024-10-01 file's
	// examples/ListKeys.json and examples/RegenerateKey.json.
	"cognitive": {Provider: "Microsoft.CognitiveServices/accounts", ListAction: "listKeys", APIVersions: []string{"2025-09-01", "2024-10-01"},
		Keys: []string{"key1", "key2"},
		Regenerate: Regenerate{Action: "regenerateKey", BodyKey: "keyName", Answer: AnswerKeys,
			Values: map[string]string{"Key1": "key1", "Key2": "key2"}},
		Disabled: Disabled{http.StatusBadRequest, "DisableLocalAuth"}},
	// search/resource-manager/Microsoft.Search/Search/stable/2025-05-01/search.json
	// (and .../Microsoft.Search/stable/2023-11-01/search.json):
	// AdminKeys_Get (POST listAdminKeys) and AdminKeys_Regenerate (POST
	// regenerateAdminKey/{keyKind}, keyKind "primary"|"secondary" in the
	// path) answer 200 AdminKeyResult (examples/SearchGetAdminKeys.json).
	"search": {Provider: "Microsoft.Search/searchServices", ListAction: "listAdminKeys", APIVersions: []string{"2025-05-01", "2023-11-01"},
		Keys: primarySecondary,
		Regenerate: Regenerate{Action: "regenerateAdminKey", InPath: true, Answer: AnswerKeys,
			Values: map[string]string{"primary": "primaryKey", "secondary": "secondaryKey"}},
		Disabled: Disabled{http.StatusBadRequest, "DisableLocalAuth"}},
	// eventhub/resource-manager/Microsoft.EventHub/Eventhub/stable/2026-01-01/openapi.json
	// (and .../Microsoft.EventHub/stable/2024-01-01/AuthorizationRules.json):
	// Namespaces_ListKeys (POST authorizationRules/{rule}/listKeys) and
	// Namespaces_RegenerateKeys (POST .../regenerateKeys, body
	// RegenerateAccessKeyParameters.keyType "PrimaryKey"|"SecondaryKey")
	// answer 200 AccessKeys {primaryConnectionString,
	// secondaryConnectionString, primaryKey, secondaryKey ("a base64-encoded
	// 256-bit key"), keyName}; the alias connection strings exist only
	// with Geo-DR, which is not emulated.
	"eventhubs": {Provider: "Microsoft.EventHub/namespaces", Child: "authorizationRules", ListAction: "listKeys",
		APIVersions: []string{"2026-01-01", "2024-01-01"}, Keys: primarySecondary, RuleField: "keyName",
		ConnStrings: map[string]string{"primaryKey": "primaryConnectionString", "secondaryKey": "secondaryConnectionString"},
		Conn:        sbConn, KeyBytes: 32,
		Regenerate: Regenerate{Action: "regenerateKeys", BodyKey: "keyType", Answer: AnswerKeys,
			Values: map[string]string{"PrimaryKey": "primaryKey", "SecondaryKey": "secondaryKey"}},
		Disabled: Disabled{http.StatusBadRequest, "DisableLocalAuth"}},
	// servicebus/resource-manager/Microsoft.ServiceBus/ServiceBus/stable/2026-01-01/servicebus.json
	// (and .../Microsoft.ServiceBus/stable/2021-11-01/AuthorizationRules.json):
	// the same operations, AccessKeys and RegenerateAccessKeyParameters as
	// Event Hubs (examples/NameSpaces/SBNameSpaceAuthorizationRuleRegenerateKey.json).
	// The 2026-01-01 file spells the segment AuthorizationRules; ARM, and
	// parseARMPath, match literal segments without case.
	"servicebus": {Provider: "Microsoft.ServiceBus/namespaces", Child: "authorizationRules", ListAction: "listKeys",
		APIVersions: []string{"2026-01-01", "2021-11-01"}, Keys: primarySecondary, RuleField: "keyName",
		ConnStrings: map[string]string{"primaryKey": "primaryConnectionString", "secondaryKey": "secondaryConnectionString"},
		Conn:        sbConn, KeyBytes: 32,
		Regenerate: Regenerate{Action: "regenerateKeys", BodyKey: "keyType", Answer: AnswerKeys,
			Values: map[string]string{"PrimaryKey": "primaryKey", "SecondaryKey": "secondaryKey"}},
		Disabled: Disabled{http.StatusBadRequest, "DisableLocalAuth"}},
	// maps/resource-manager/Microsoft.Maps/stable/2023-06-01/maps-management.json:
	// Accounts_ListKeys (POST listKeys) and Accounts_RegenerateKeys (POST
	// regenerateKey, body keySpecification {keyType "primary"|"secondary"})
	// answer 200 MapsAccountKeys; examples/ListKeys.json and
	// RegenerateKey.json show {id, primaryKey, secondaryKey}.
	"maps": {Provider: "Microsoft.Maps/accounts", ListAction: "listKeys", APIVersions: []string{"2023-06-01"},
		Keys: primarySecondary, IDField: "id",
		Regenerate: Regenerate{Action: "regenerateKey", BodyKey: "keyType", Answer: AnswerKeys,
			Values: map[string]string{"primary": "primaryKey", "secondary": "secondaryKey"}},
		Disabled: Disabled{http.StatusBadRequest, "DisableLocalAuth"}},
	// signalr/resource-manager/Microsoft.SignalRService/stable/2024-03-01/signalr.json:
	// SignalR_ListKeys (POST listKeys) answers SignalRKeys {primaryKey,
	// secondaryKey, primaryConnectionString, secondaryConnectionString};
	// SignalR_RegenerateKey (POST regenerateKey, body {"keyType":
	// "Primary"}) is long-running: 200 or 202 with Location
	// (examples/SignalR_RegenerateKey.json).
	"signalr": {Provider: "Microsoft.SignalRService/signalR", ListAction: "listKeys", APIVersions: []string{"2024-03-01"},
		Keys:        primarySecondary,
		ConnStrings: map[string]string{"primaryKey": "primaryConnectionString", "secondaryKey": "secondaryConnectionString"},
		Conn:        signalRConn,
		Regenerate: Regenerate{Action: "regenerateKey", BodyKey: "keyType", Answer: AnswerAsync,
			Values: map[string]string{"Primary": "primaryKey", "Secondary": "secondaryKey"}},
		Disabled: Disabled{http.StatusBadRequest, "DisableLocalAuth"}},
}

// TypeNames lists the types in order.
func TypeNames() []string {
	names := make([]string, 0, len(Types))
	for n := range Types {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Fields are every field of the type's answer that holds a key: the keys
// and the connection strings built on them.
func (t Type) Fields() []string {
	out := slices.Clone(t.Keys)
	for _, k := range t.Keys {
		if cs, ok := t.ConnStrings[k]; ok {
			out = append(out, cs)
		}
	}
	return out
}

// typeByProvider finds the type whose Provider is p, as ARM compares it.
func typeByProvider(p string) (string, Type, bool) {
	for name, t := range Types {
		if strings.EqualFold(t.Provider, p) {
			return name, t, true
		}
	}
	return "", Type{}, false
}

// field names the key field a regenerate request names: a key field
// itself, or a name the type's regenerate action accepts.
func (t Type) field(name string) (string, bool) {
	if slices.Contains(t.Keys, name) {
		return name, true
	}
	for v, f := range t.Regenerate.Values {
		if strings.EqualFold(v, name) {
			return f, true
		}
	}
	return "", false
}

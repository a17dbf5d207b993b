package derive

import (
	"testing"

	"github.com/keysync/keysync/secret"
	"github.com/keysync/keysync/sync/derive/spec"
)

func TestRedisAndCosmosConnectionStrings(t *testing.T) {
	redis := Input{Name: "cache1", Active: "secondaryKey", Keys: secret.Fields{"primaryKey": secret.New("p"), "secondaryKey": secret.New("s")},
		Props: map[string]string{"hostName": "cache1.redis.cache.windows.net", "sslPort": "6380"}}
	cosmos := Input{Name: "ddb1", Active: "primaryMasterKey", Keys: secret.Fields{"primaryMasterKey": secret.New("k1"), "secondaryMasterKey": secret.New("k2")},
		Answered: secret.Fields{"Primary/Sql": secret.New("AccountEndpoint=https://ddb1.documents.azure.com:443/;AccountKey=k1;"),
			"Secondary/Sql": secret.New("AccountEndpoint=https://ddb1.documents.azure.com:443/;AccountKey=k2;")}}
	stale := cosmos
	stale.Active = "secondaryMasterKey"
	stale.Answered = secret.Fields{"Secondary/Sql": secret.New("AccountEndpoint=https://ddb1.documents.azure.com:443/;AccountKey=old;")}
	tests := []struct {
		name, kind string
		in         Input
		want       string // "" for an error
	}{
		{"redis: host, TLS port, the active key, ssl", spec.RedisConnectionString, redis, "cache1.redis.cache.windows.net:6380,password=s,ssl=True,abortConnect=False"},
		{"redis without properties", spec.RedisConnectionString, Input{Active: "primaryKey", Keys: redis.Keys}, ""},
		{"cosmos: the active key's SQL string", spec.CosmosConnectionString, cosmos, "AccountEndpoint=https://ddb1.documents.azure.com:443/;AccountKey=k1;"},
		{"cosmos: an answer without the active key", spec.CosmosConnectionString, stale, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Derive(spec.Spec{Name: "cs", Kind: tt.kind}, tt.in, nil, t0)
			switch {
			case tt.want == "" && err == nil:
				t.Fatal("made a connection string")
			case tt.want != "" && (err != nil || r.Value.Reveal() != tt.want):
				t.Fatalf("not the expected connection string: %v", err)
			}
		})
	}
}

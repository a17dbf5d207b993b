package derive

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/keysync/keysync/sync/derive/spec"
)

// redisConnectionString is a Redis cache's connection string with its
// active key, in StackExchange.Redis's form as Microsoft's quickstart
// writes it (learn.microsoft.com/azure/azure-cache-for-redis/cache-dotnet-how-to-use-azure-redis-cache:
// "<cache>.redis.cache.windows.net:6380,password=<key>,ssl=True,abortConnect=False"),
// the host and TLS port being the cache's own properties.hostName and
// sslPort.
func redisConnectionString(_ spec.Spec, in Input, _, _ time.Time) (string, error) {
	key, err := in.activeKey()
	if err != nil {
		return "", err
	}
	host, port := in.Props["hostName"], in.Props["sslPort"]
	if host == "" || port == "" {
		return "", errors.New("the cache's properties give no hostName and sslPort")
	}
	return host + ":" + port + ",password=" + key + ",ssl=True,abortConnect=False", nil
}

// cosmosKeyKinds are the keyKind of listConnectionStrings by the keys
// action's field.
var cosmosKeyKinds = map[string]string{
	"primaryMasterKey": "Primary", "secondaryMasterKey": "Secondary",
	"primaryReadonlyMasterKey": "PrimaryReadonly", "secondaryReadonlyMasterKey": "SecondaryReadonly",
}

// cosmosConnectionString is the account's SQL connection string of the
// active key, as its listConnectionStrings answers it; one that does not
// hold the active key is refused (an answer of before a regenerate).
func cosmosConnectionString(_ spec.Spec, in Input, _, _ time.Time) (string, error) {
	key, err := in.activeKey()
	if err != nil {
		return "", err
	}
	name := cosmosKeyKinds[in.Active] + "/Sql"
	v, ok := in.Answered[name]
	if !ok || !strings.Contains(v.Reveal(), "AccountKey="+key) {
		return "", fmt.Errorf("listConnectionStrings answered no %s connection string of the active key", name)
	}
	return v.Reveal(), nil
}

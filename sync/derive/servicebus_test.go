package derive

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keysync/keysync/secret"
	"github.com/keysync/keysync/sync/derive/spec"
)

// docsNode is the Node.js function of Microsoft's "Generate SAS token"
// page (learn.microsoft.com/rest/api/eventhub/generate-sas-token), its
// expiry passed in instead of read from the clock, run by Node itself: the
// documentation's own code is the oracle, not a copy of keysync's.
const docsNode = `
const crypto = require('crypto');
function createSharedAccessToken(uri, saName, saKey, ttl) {
  var encoded = encodeURIComponent(uri);
  var signature = encoded + '\n' + ttl;
  var hash = crypto.createHmac('sha256', saKey).update(signature, 'utf8').digest('base64');
  return 'SharedAccessSignature sr=' + encoded + '&sig=' + encodeURIComponent(hash) + '&se=' + ttl + '&skn=' + saName;
}
process.stdout.write(createSharedAccessToken(process.argv[1], process.argv[2], process.argv[3], process.argv[4]));
`

func TestBusSASIsTheDocumentedAlgorithm(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed; run make deps (the Azurite tests need it too)")
	}
	tests := []struct{ name, uri, rule, key string }{
		{"namespace", "https://contoso-ns.servicebus.windows.net/", "RootManageSharedAccessKey", "c2VjcmV0LWtleS1vbmU9PQ+/="},
		{"entity", "https://contoso-ns.servicebus.windows.net/orders/q1", "send-only", "another+key/with=signs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const se = 1767225600
			want, err := exec.CommandContext(t.Context(), node, "-e", docsNode, tt.uri, tt.rule, tt.key, strconv.Itoa(se)).Output()
			if err != nil {
				t.Fatalf("node: %v", err)
			}
			if got := busToken(tt.uri, tt.rule, tt.key, se); got != string(want) {
				t.Fatal("keysync's token differs from the documentation's")
			}
		})
	}
}

func TestEventHubsSASFromTheAnswer(t *testing.T) {
	in := Input{Name: "contoso-ns", Rule: "send", Active: "secondaryKey", Keys: secret.Fields{
		"primaryKey": secret.New("k1"), "secondaryKey": secret.New("k2"),
		"primaryConnectionString":   secret.New("Endpoint=sb://contoso-ns.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=k1"),
		"secondaryConnectionString": secret.New("Endpoint=sb://contoso-ns.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=k2"),
	}}
	sp := spec.Spec{Name: "token", Kind: spec.EventHubsSAS, Entity: "hub1", Expiry: time.Hour}
	r, err := Derive(sp, in, nil, t0)
	if err != nil {
		t.Fatal(err)
	}
	if want := busToken("https://contoso-ns.servicebus.windows.net/hub1", "send", "k2", t0.Add(time.Hour).Unix()); r.Value.Reveal() != want {
		t.Fatal("token not signed for the entity with the active key until the expiry")
	}
	held := r.Value
	if again, _ := Derive(sp, in, &held, t0.Add(time.Minute)); again.Fresh || !again.Expires.Equal(r.Expires) {
		t.Fatalf("held token not kept: fresh %v", again.Fresh)
	}
	cs, err := Derive(spec.Spec{Name: "cs", Kind: spec.ConnectionString}, in, nil, t0)
	if err != nil || !strings.HasSuffix(cs.Value.Reveal(), "SharedAccessKey=k2") {
		t.Fatalf("connection string not the active key's: %v", err)
	}
}

package azure

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"

	"github.com/keysync/keysync/config"
	"github.com/keysync/keysync/internal/armemu"
	"github.com/keysync/keysync/sources"
)

// TestUserAgentCarriesTheBuildsVersion: ARM's logs name the keysync build
// that sent a request, as azcore formats it, whatever version it is given.
func TestUserAgentCarriesTheBuildsVersion(t *testing.T) {
	emu, o := startEmulator(t)
	tests := []struct{ name, version, want string }{
		{name: "release", version: "v1.4.2", want: "azsdk-go-keysync/v1.4.2 ("},
		{name: "pseudo-version", version: "v0.0.0-20260101120000-0123456789ab", want: "azsdk-go-keysync/v0.0.0-20260101120000-0123456789ab ("},
		{name: "dirty VCS build", version: "v1.4.3-0.20260101120000-0123456789ab+dirty", want: "azsdk-go-keysync/v1.4.3-0.20260101120000-0123456789ab-dirty ("},
		{name: "without its v", version: "1.4.2", want: "azsdk-go-keysync/v1.4.2 ("},
		{name: "unset", version: "", want: "azsdk-go-keysync/v0.0.0-dev ("},
		{name: "the default", version: "dev", want: "azsdk-go-keysync/v0.0.0-dev ("},
		{name: "space and newline", version: "1.0 beta\r\nX-Evil: 1", want: "azsdk-go-keysync/v0.0.0-1.0-beta--X-Evil--1 ("},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := fmt.Sprintf("uaacct%c", 'a'+i)
			emu.Add(armemu.Resource{Subscription: sub, ResourceGroup: "rg", Name: name})
			oo := o
			oo.Version = tt.version
			if _, err := newSource(t, oo).Fetch(context.Background(), sources.Account{SubscriptionID: sub, ResourceGroup: "rg", Name: name}); err != nil {
				t.Fatal(err)
			}
			got := lastRequestFor(t, name).UserAgent
			if !strings.HasPrefix(got, tt.want) {
				t.Fatalf("User-Agent %q, want it to start with %q", got, tt.want)
			}
		})
	}
}

// lastRequestFor is the emulator's record of the latest request for the
// account named name.
func lastRequestFor(t *testing.T, name string) armemu.Request {
	t.Helper()
	log := emu.RequestLog()
	for i := len(log) - 1; i >= 0; i-- {
		if strings.HasSuffix(log[i].Account, "/"+name) {
			return log[i]
		}
	}
	t.Fatalf("the emulator saw no request for %s", name)
	return armemu.Request{}
}

// TestEveryConfigCloudIsKnown: each name the file accepts maps to one of
// azcore's clouds, and nothing else does.
func TestEveryConfigCloudIsKnown(t *testing.T) {
	if len(clouds) != len(config.CloudNames) {
		t.Fatalf("%d clouds mapped, config accepts %d", len(clouds), len(config.CloudNames))
	}
	for _, name := range config.CloudNames {
		c, ok := clouds[name]
		if !ok || c.Services[cloud.ResourceManager].Endpoint == "" {
			t.Errorf("config accepts cloud %q, which has no Resource Manager endpoint here", name)
		}
	}
}

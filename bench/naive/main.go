// Command naive is the benchmark's baseline: what a shell script around
// `az` and `vault kv put` does. It reads keysync's config for the accounts,
// takes one managed-identity token, then for each account, one after the
// other, calls listKeys and writes both keys to Vault KV v2 without looking
// at what is there. It neither retries nor paces; a failed account is
// counted and skipped.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/keysync/keysync/config"
	"github.com/keysync/keysync/sources"
)

func main() { os.Exit(run()) }

func run() int {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: naive CONFIG")
		return 2
	}
	cfg, err := config.Load(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx := context.Background()
	token, err := msiToken(ctx, cfg.Azure.Audience)
	if err != nil {
		fmt.Fprintln(os.Stderr, "token:", err)
		return 1
	}
	vc, err := api.NewClient(api.DefaultConfig())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	failed := 0
	for _, a := range cfg.Accounts {
		keys, err := listKeys(ctx, cfg.Azure, token, a.Source())
		if err == nil {
			_, err = vc.KVv2(cfg.Vault.Mount).Put(ctx, a.Path, keys)
		}
		if err != nil {
			failed++
		}
	}
	fmt.Printf("naive: %d accounts, %d failed\n", len(cfg.Accounts), failed)
	return 0
}

func msiToken(ctx context.Context, resource string) (string, error) {
	if resource == "" {
		resource = "https://management.core.windows.net/"
	}
	u := os.Getenv("IDENTITY_ENDPOINT") + "?api-version=2019-08-01&resource=" + url.QueryEscape(resource)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil) //nolint:gosec // G704: the endpoint comes from the environment, as azidentity takes it
	req.Header.Set("X-IDENTITY-HEADER", os.Getenv("IDENTITY_HEADER"))
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := do(req, &out); err != nil {
		return "", err
	}
	return out.AccessToken, nil
}

// listKeys asks for a Batch account's keys, as keysync would: the same
// resource id, action and api-version.
func listKeys(ctx context.Context, az config.Azure, token string, a sources.Account) (map[string]any, error) {
	u := strings.TrimRight(az.Endpoint, "/") + a.ResourceID() + "/" + a.Spec().Action +
		"?api-version=" + url.QueryEscape(sources.APIVersionFor(a, az.APIVersion))
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, nil) //nolint:gosec // G704: ARM's endpoint comes from the benchmark's own config
	req.Header.Set("Authorization", "Bearer "+token)
	var out struct{ Primary, Secondary string }
	if err := do(req, &out); err != nil {
		return nil, err
	}
	return map[string]any{"primary": out.Primary, "secondary": out.Secondary}, nil
}

var client = &http.Client{Timeout: 30 * time.Second}

func do(req *http.Request, out any) error {
	resp, err := client.Do(req) //nolint:gosec // G704: requests built above, to the benchmark's own endpoints
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body) // drained for reuse; the status is the error
		return fmt.Errorf("%s", resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

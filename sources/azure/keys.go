package azure

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/keysync/keysync/secret"
)

// Field names keysync writes for a Batch account.
const (
	FieldPrimary   = "primary"
	FieldSecondary = "secondary"
)

// batchAccountKeys is the documented BatchAccountKeys response.
type batchAccountKeys struct {
	AccountName string `json:"accountName"`
	Primary     string `json:"primary"`
	Secondary   string `json:"secondary"`
}

// parseKeys decodes a 200 response. A response for another account, or with
// an empty key, is an error, never a write. No error here quotes the body.
func parseKeys(body []byte, account string) (secret.Fields, error) {
	var k batchAccountKeys
	if err := json.Unmarshal(body, &k); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) || strings.Contains(err.Error(), "unexpected end") {
			return nil, fmt.Errorf("keys response is not valid JSON (%d bytes, possibly truncated)", len(body))
		}
		return nil, fmt.Errorf("keys response has an unexpected shape (%d bytes)", len(body))
	}
	if !strings.EqualFold(k.AccountName, account) {
		return nil, fmt.Errorf("keys response names account %q, not %q", clean(k.AccountName), account)
	}
	if k.Primary == "" || k.Secondary == "" {
		return nil, fmt.Errorf("keys response has an empty key (primary set: %t, secondary set: %t)", k.Primary != "", k.Secondary != "")
	}
	return secret.Fields{FieldPrimary: secret.New(k.Primary), FieldSecondary: secret.New(k.Secondary)}, nil
}

func transientAuth(e *azidentity.AuthenticationFailedError) bool {
	if e.RawResponse == nil {
		return true
	}
	s := e.RawResponse.StatusCode
	return s == http.StatusRequestTimeout || s == http.StatusTooManyRequests || s >= 500
}

// isCredentialUnavailable spots azidentity's unexported
// credentialUnavailableError: no credential of the configured kind exists.
func isCredentialUnavailable(err error) bool {
	var u interface{ NonRetriable() }
	return errors.As(err, &u)
}

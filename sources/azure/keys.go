package azure

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/keysync/keysync/internal/oneline"
	"github.com/keysync/keysync/secret"
	"github.com/keysync/keysync/sources"
)

// parseKeys decodes a 200 response for a: the type's fields under the
// response's own names (for Storage, each keys[] entry under its keyName).
// A response for another resource, or with a missing or empty key, is an
// error, never a write. No error here quotes the body.
func parseKeys(body []byte, a sources.Account) (secret.Fields, error) {
	t := a.Spec()
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) || strings.Contains(err.Error(), "unexpected end") {
			return nil, fmt.Errorf("keys response is not valid JSON (%d bytes, possibly truncated)", len(body))
		}
		return nil, fmt.Errorf("keys response has an unexpected shape (%d bytes)", len(body))
	}
	if t.NameField != "" {
		var name string
		if json.Unmarshal(raw[t.NameField], &name) != nil || !strings.EqualFold(name, a.Name) {
			return nil, fmt.Errorf("keys response names %s %q, not %q", t.NameField, oneline.Clean(name), a.Name)
		}
	}
	if t.KeysArray {
		return keysArray(t, raw["keys"], len(body))
	}
	values := make(map[string]string, len(t.Fields))
	var missing []string
	for _, f := range t.Fields {
		var v string
		if json.Unmarshal(raw[f], &v) != nil || v == "" {
			missing = append(missing, f)
		}
		values[f] = v
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("keys response has an empty or missing key: %s", strings.Join(missing, ", "))
	}
	return checkedFields(t, values)
}

// checkedFields refuses the whole answer when any value is malformed: a
// half-good answer is never written.
func checkedFields(t sources.Type, values map[string]string) (secret.Fields, error) {
	fields := make(secret.Fields, len(values))
	for _, f := range slices.Sorted(maps.Keys(values)) {
		if err := t.CheckKey(f, values[f]); err != nil {
			return nil, err
		}
		fields[f] = secret.New(values[f])
	}
	return fields, nil
}

// keysArray reads Storage's keys: [{keyName, value, permissions}].
func keysArray(t sources.Type, raw json.RawMessage, size int) (secret.Fields, error) {
	var keys []struct {
		KeyName string `json:"keyName"`
		Value   string `json:"value"`
	}
	if err := json.Unmarshal(raw, &keys); err != nil || len(keys) == 0 {
		return nil, fmt.Errorf("keys response has no keys array (%d bytes)", size)
	}
	values := make(map[string]string, len(keys))
	for i, k := range keys {
		if !sources.ValidFieldName(k.KeyName) || k.Value == "" {
			return nil, fmt.Errorf("keys response entry %d has an unusable keyName or an empty value", i)
		}
		values[k.KeyName] = k.Value
	}
	return checkedFields(t, values)
}

package armemu

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"time"
)

// adminRequest names a resource, and what to do to it. Type "" is
// DefaultType, so that Batch-only scripts keep working.
type adminRequest struct {
	Type           string `json:"type,omitempty"`
	SubscriptionID string `json:"subscriptionId"`
	ResourceGroup  string `json:"resourceGroup"`
	Name           string `json:"name"`
	Rule           string `json:"rule,omitempty"`
	// KeyName is the key to regenerate: an answer field ("secondary",
	// "primaryKey") or a name the type's regenerate action accepts.
	KeyName  string `json:"keyName,omitempty"`
	Disabled bool   `json:"disabled,omitempty"`
	Fault    *Fault `json:"fault,omitempty"`
	// ClientID picks the managed identity a token fault, or a Resource
	// Graph fault (discovery-faults), applies to.
	ClientID string `json:"clientId,omitempty"`
	// Tags, when set, are the resource's tags (accounts, tags).
	Tags map[string]string `json:"tags,omitempty"`
	// State is a subscription's state (subscriptions).
	State string `json:"state,omitempty"`
	// ManagementGroup and Subscriptions make a management group.
	ManagementGroup string   `json:"managementGroup,omitempty"`
	Subscriptions   []string `json:"subscriptions,omitempty"`
	// Endpoint picks a discovery fault's endpoint: "graph",
	// "subscriptions", or "list" (of Type in SubscriptionID).
	Endpoint string `json:"endpoint,omitempty"`
	// Discovery settings: Resource Graph's quota (queries per window),
	// page sizes; 0 restores the default.
	GraphQuota    int     `json:"graphQuota,omitempty"`
	GraphWindow   float64 `json:"graphWindowSeconds,omitempty"`
	GraphPageSize int     `json:"graphPageSize,omitempty"`
	ListPageSize  int     `json:"listPageSize,omitempty"`
}

func (r adminRequest) resource() Resource {
	return Resource{Type: r.Type, Subscription: r.SubscriptionID, ResourceGroup: r.ResourceGroup, Name: r.Name, Rule: r.Rule}
}

// adminRoutes is the control API for a standalone emulator, the same
// operations tests call in-process. It never returns a key, only
// fingerprints, so a demo can show what changed without showing secrets.
func (e *Emulator) adminRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_emulator/accounts", e.adminList)
	mux.HandleFunc("POST /_emulator/accounts", e.admin(func(r adminRequest) error {
		res := r.resource()
		if _, err := res.kind(); err != nil {
			return err
		}
		e.Add(res)
		if r.Tags != nil {
			return e.SetTags(res, r.Tags)
		}
		return nil
	}))
	mux.HandleFunc("POST /_emulator/regenerate", e.admin(e.adminRegenerate))
	mux.HandleFunc("POST /_emulator/shared-key", e.admin(func(r adminRequest) error {
		return e.SetKeysDisabled(r.resource(), r.Disabled)
	}))
	mux.HandleFunc("POST /_emulator/faults", e.admin(func(r adminRequest) error {
		if r.Fault == nil {
			e.ClearFaults(r.resource())
			return nil
		}
		e.InjectFault(r.resource(), *r.Fault)
		return nil
	}))
	mux.HandleFunc("POST /_emulator/release", e.admin(func(r adminRequest) error {
		e.Release(r.resource())
		return nil
	}))
	mux.HandleFunc("POST /_emulator/token-faults", e.admin(func(r adminRequest) error {
		if r.Fault == nil {
			e.ClearTokenFaults(r.ClientID)
			return nil
		}
		e.InjectTokenFault(r.ClientID, *r.Fault)
		return nil
	}))
	e.adminDiscoveryRoutes(mux)
	e.adminEventGridRoutes(mux)
	return mux
}

// adminDiscoveryRoutes set what discovery finds: tags, subscription
// states, management groups.
func (e *Emulator) adminDiscoveryRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /_emulator/tags", e.admin(func(r adminRequest) error {
		return e.SetTags(r.resource(), r.Tags)
	}))
	mux.HandleFunc("POST /_emulator/subscriptions", e.admin(func(r adminRequest) error {
		if r.SubscriptionID == "" {
			return errors.New("subscriptionId is required")
		}
		return e.SetSubscriptionState(r.SubscriptionID, cmp.Or(r.State, StateEnabled))
	}))
	mux.HandleFunc("POST /_emulator/management-groups", e.admin(func(r adminRequest) error {
		if r.ManagementGroup == "" {
			return errors.New("managementGroup is required")
		}
		e.AddManagementGroup(r.ManagementGroup, r.Subscriptions...)
		return nil
	}))
	mux.HandleFunc("POST /_emulator/discovery-faults", e.admin(e.adminDiscoveryFault))
	mux.HandleFunc("POST /_emulator/discovery-settings", e.admin(func(r adminRequest) error {
		e.SetGraphQuota(r.GraphQuota, time.Duration(r.GraphWindow*float64(time.Second)))
		e.SetGraphPageSize(r.GraphPageSize)
		e.SetListPageSize(r.ListPageSize)
		return nil
	}))
}

// adminDiscoveryFault queues Fault for the endpoint named, or with no
// fault clears every discovery fault.
func (e *Emulator) adminDiscoveryFault(r adminRequest) error {
	if r.Fault == nil {
		e.ClearDiscoveryFaults()
		return nil
	}
	switch r.Endpoint {
	case "graph":
		if r.ClientID != "" { // one managed identity's queries only
			e.InjectGraphFaultFor(r.ClientID, *r.Fault)
			return nil
		}
		e.InjectGraphFault(*r.Fault)
	case "subscriptions":
		e.InjectSubscriptionsFault(*r.Fault)
	case "list":
		if _, err := r.resource().kind(); err != nil || r.SubscriptionID == "" {
			return errors.New("a list fault needs a known type and a subscriptionId")
		}
		e.InjectListFault(r.SubscriptionID, r.resource().typeName(), *r.Fault)
	default:
		return fmt.Errorf("endpoint %q is not graph, subscriptions or list", r.Endpoint)
	}
	return nil
}

// adminRegenerate renews the key KeyName names.
func (e *Emulator) adminRegenerate(r adminRequest) error {
	res := r.resource()
	t, err := res.kind()
	if err != nil {
		return err
	}
	field, ok := t.field(r.KeyName)
	if !ok {
		return fmt.Errorf("%s has no key %q", res.ID(), r.KeyName)
	}
	_, err = e.Regenerate(res, field)
	return err
}

func (e *Emulator) admin(do func(adminRequest) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req adminRequest
		if !decodeAdmin(w, r, 64<<10, &req) {
			return
		}
		if err := do(req); err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// accountView is an account as the admin API shows it: fingerprints only.
// Primary and Secondary are the type's first two keys.
type accountView struct {
	Type           string            `json:"type"`
	SubscriptionID string            `json:"subscriptionId"`
	ResourceGroup  string            `json:"resourceGroup"`
	Name           string            `json:"name"`
	Rule           string            `json:"rule,omitempty"`
	Primary        string            `json:"primaryFingerprint"`
	Secondary      string            `json:"secondaryFingerprint"`
	Fingerprints   map[string]string `json:"fingerprints"`
	Requests       int               `json:"listKeysRequests"`
	Tags           map[string]string `json:"tags,omitempty"`
}

func (e *Emulator) adminList(w http.ResponseWriter, _ *http.Request) {
	e.mu.Lock()
	out := make([]accountView, 0, len(e.accounts))
	for k, a := range e.accounts {
		v := view(a, e.requests[k])
		v.Tags = e.tagsOf(a.Resource)
		out = append(out, v)
	}
	e.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	writeJSON(w, http.StatusOK, out)
}

// view is a's accountView; e.mu is held.
func view(a *Account, requests int) accountView {
	t := Types[a.typeName()]
	v := accountView{Type: a.Type, SubscriptionID: a.Subscription, ResourceGroup: a.ResourceGroup, Name: a.Name, Rule: a.Rule,
		Fingerprints: map[string]string{}, Requests: requests}
	for f, k := range a.Keys {
		v.Fingerprints[f] = Fingerprint(k)
	}
	v.Primary, v.Secondary = v.Fingerprints[t.Keys[0]], v.Fingerprints[t.Keys[1]]
	return v
}

// Fingerprint is the same short sha256 keysync records, "sha256:" and 12 hex
// digits, so the two can be compared by eye.
func Fingerprint(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:6])
}

package armemu

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"sort"
)

// adminRequest names an account, and what to do to it.
type adminRequest struct {
	SubscriptionID string `json:"subscriptionId"`
	ResourceGroup  string `json:"resourceGroup"`
	Name           string `json:"name"`
	KeyName        string `json:"keyName,omitempty"`
	Disabled       bool   `json:"disabled,omitempty"`
	Fault          *Fault `json:"fault,omitempty"`
	// ClientID picks the managed identity a token fault applies to.
	ClientID string `json:"clientId,omitempty"`
}

// adminRoutes is the control API for a standalone emulator, the same
// operations tests call in-process. It never returns a key, only
// fingerprints, so a demo can show what changed without showing secrets.
func (e *Emulator) adminRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_emulator/accounts", e.adminList)
	mux.HandleFunc("POST /_emulator/accounts", e.admin(func(r adminRequest) error {
		e.AddAccount(r.SubscriptionID, r.ResourceGroup, r.Name)
		return nil
	}))
	mux.HandleFunc("POST /_emulator/regenerate", e.admin(func(r adminRequest) error {
		_, err := e.Regenerate(r.SubscriptionID, r.ResourceGroup, r.Name, r.KeyName)
		return err
	}))
	mux.HandleFunc("POST /_emulator/shared-key", e.admin(func(r adminRequest) error {
		return e.SetSharedKeyDisabled(r.SubscriptionID, r.ResourceGroup, r.Name, r.Disabled)
	}))
	mux.HandleFunc("POST /_emulator/faults", e.admin(func(r adminRequest) error {
		if r.Fault == nil {
			e.ClearFaults(r.SubscriptionID, r.ResourceGroup, r.Name)
			return nil
		}
		e.InjectFault(r.SubscriptionID, r.ResourceGroup, r.Name, *r.Fault)
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
	return mux
}

func (e *Emulator) admin(do func(adminRequest) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req adminRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
			http.Error(w, "bad request body: "+err.Error(), http.StatusBadRequest)
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
type accountView struct {
	SubscriptionID string `json:"subscriptionId"`
	ResourceGroup  string `json:"resourceGroup"`
	Name           string `json:"name"`
	Primary        string `json:"primaryFingerprint"`
	Secondary      string `json:"secondaryFingerprint"`
	Requests       int    `json:"listKeysRequests"`
}

func (e *Emulator) adminList(w http.ResponseWriter, _ *http.Request) {
	e.mu.Lock()
	out := make([]accountView, 0, len(e.accounts))
	for k, a := range e.accounts {
		out = append(out, accountView{a.SubscriptionID, a.ResourceGroup, a.Name, Fingerprint(a.Primary), Fingerprint(a.Secondary), e.requests[k]})
	}
	e.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	writeJSON(w, http.StatusOK, out)
}

// Fingerprint is the same short sha256 keysync records, "sha256:" and 12 hex
// digits, so the two can be compared by eye.
func Fingerprint(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:6])
}

package armemu

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"time"
)

// egSubscriptionRequest is an EventSubscription as the admin API takes it.
type egSubscriptionRequest struct {
	Name                 string            `json:"name"`
	Endpoint             string            `json:"endpoint"`
	RootCAPEM            string            `json:"rootCAPEM,omitempty"`
	Schema               string            `json:"schema,omitempty"`
	Batched              bool              `json:"batched,omitempty"`
	MaxEventsPerBatch    int               `json:"maxEventsPerBatch,omitempty"`
	PreferredBatchSizeKB int               `json:"preferredBatchSizeKB,omitempty"`
	Query                map[string]string `json:"query,omitempty"`
	Headers              map[string]string `json:"headers,omitempty"`
	EntraAudience        string            `json:"entraAudience,omitempty"`
	EntraTenant          string            `json:"entraTenant,omitempty"`
	EntraTokenVersion    string            `json:"entraTokenVersion,omitempty"`
	IncludedOperations   []string          `json:"includedOperations,omitempty"`
	IncludedEventTypes   []string          `json:"includedEventTypes,omitempty"`
	SubjectBeginsWith    string            `json:"subjectBeginsWith,omitempty"`
	SubjectEndsWith      string            `json:"subjectEndsWith,omitempty"`
	MaxDeliveryAttempts  int               `json:"maxDeliveryAttempts,omitempty"`
	RetryBaseSeconds     float64           `json:"retryBaseSeconds,omitempty"`
	TimeoutSeconds       float64           `json:"timeoutSeconds,omitempty"`
	EventTTLSeconds      float64           `json:"eventTTLSeconds,omitempty"`
}

func (r egSubscriptionRequest) subscription() (EventSubscription, error) {
	s := EventSubscription{Name: r.Name, Endpoint: r.Endpoint, Schema: r.Schema, Batched: r.Batched,
		MaxEventsPerBatch: r.MaxEventsPerBatch, PreferredBatchSizeKB: r.PreferredBatchSizeKB, Query: r.Query,
		Headers: r.Headers, EntraAudience: r.EntraAudience, EntraTenant: r.EntraTenant, EntraTokenVersion: r.EntraTokenVersion,
		IncludedOperations: r.IncludedOperations, IncludedEventTypes: r.IncludedEventTypes, SubjectBeginsWith: r.SubjectBeginsWith,
		SubjectEndsWith:     r.SubjectEndsWith,
		MaxDeliveryAttempts: r.MaxDeliveryAttempts, RetryBase: seconds(r.RetryBaseSeconds), Timeout: seconds(r.TimeoutSeconds),
		EventTTL: seconds(r.EventTTLSeconds)}
	if r.RootCAPEM != "" {
		s.RootCAs = x509.NewCertPool()
		if !s.RootCAs.AppendCertsFromPEM([]byte(r.RootCAPEM)) {
			return s, errors.New("rootCAPEM holds no certificate")
		}
	}
	return s, nil
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// egEventsRequest publishes events; each is a ResourceEvent.
type egEventsRequest struct {
	Events []struct {
		ID            string    `json:"id,omitempty"`
		EventType     string    `json:"eventType,omitempty"`
		Subscription  string    `json:"subscriptionId,omitempty"`
		ResourceURI   string    `json:"resourceUri"`
		OperationName string    `json:"operationName"`
		Status        string    `json:"status,omitempty"`
		Time          time.Time `json:"time,omitzero"`
	} `json:"events"`
}

// maxAdminEvents bounds one publish call.
const maxAdminEvents = 10000

// adminEventGridRoutes are Event Grid's admin routes, for the standalone
// emulator (demo, benchmark):
//
//	POST   /_emulator/eventgrid/subscriptions          subscribe (handshake first)
//	DELETE /_emulator/eventgrid/subscriptions/{name}   unsubscribe
//	GET    /_emulator/eventgrid/subscriptions/{name}   its deliveries and dropped event ids
//	POST   /_emulator/eventgrid/events                 publish {"events": [...]}
//	GET    /_emulator/eventgrid/entra                  tenantId, issuer, issuerV2, keysUrl, eventGridAppId
//	POST   /_emulator/eventgrid/entra-tenants          {"cloud"} → the same of a new tenant (NewEntraTenant)
//	POST   /_emulator/eventgrid/entra-token            {"audience", "ttlSeconds", "version", "appId", "tenant"} → {"token"}
//	                                                    (appId: another application's token, EntraAppToken)
//	POST   /_emulator/eventgrid/entra-rotate           a new signing key (RotateEntraKey); ?tenant= another's
func (e *Emulator) adminEventGridRoutes(mux *http.ServeMux) {
	const base = "/_emulator/eventgrid/"
	mux.HandleFunc("POST "+base+"subscriptions", e.adminSubscribe)
	mux.HandleFunc("DELETE "+base+"subscriptions/{name}", func(w http.ResponseWriter, r *http.Request) {
		e.Unsubscribe(r.PathValue("name"))
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET "+base+"subscriptions/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		writeJSON(w, http.StatusOK, map[string]any{"deliveries": e.Deliveries(name), "dropped": e.Dropped(name)})
	})
	mux.HandleFunc("POST "+base+"events", e.adminPublish)
	mux.HandleFunc("GET "+base+"entra", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, (&EntraTenant{e: e, t: e.entra}).describe())
	})
	mux.HandleFunc("POST "+base+"entra-tenants", e.adminNewEntraTenant)
	mux.HandleFunc("POST "+base+"entra-token", e.adminEntraToken)
	mux.HandleFunc("POST "+base+"entra-rotate", func(w http.ResponseWriter, r *http.Request) {
		t, ok := e.tenant(r.URL.Query().Get("tenant"))
		if !ok {
			http.Error(w, "no such tenant", http.StatusNotFound)
			return
		}
		t.rotate()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET "+base+"validate", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "manual validation is not emulated: answer the validation event with validationResponse", http.StatusConflict)
	})
}

func (e *Emulator) adminSubscribe(w http.ResponseWriter, r *http.Request) {
	var req egSubscriptionRequest
	if !decodeAdmin(w, r, 64<<10, &req) {
		return
	}
	s, err := req.subscription()
	if err == nil {
		err = e.Subscribe(r.Context(), s)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (e *Emulator) adminPublish(w http.ResponseWriter, r *http.Request) {
	var req egEventsRequest
	if !decodeAdmin(w, r, 8<<20, &req) {
		return
	}
	if len(req.Events) > maxAdminEvents {
		http.Error(w, "at most 10000 events per call", http.StatusBadRequest)
		return
	}
	for _, ev := range req.Events {
		e.PublishEvent(ResourceEvent{ID: ev.ID, EventType: ev.EventType, Subscription: ev.Subscription,
			ResourceURI: ev.ResourceURI, OperationName: ev.OperationName, Status: ev.Status, Time: ev.Time})
	}
	w.WriteHeader(http.StatusNoContent)
}

func (e *Emulator) adminNewEntraTenant(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Cloud string `json:"cloud"`
	}
	if !decodeAdmin(w, r, 4<<10, &req) {
		return
	}
	t, err := e.NewEntraTenant(req.Cloud)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	writeJSON(w, http.StatusOK, t.describe())
}

// describe is the tenant as the admin API shows it.
func (x *EntraTenant) describe() map[string]string {
	return map[string]string{"tenantId": x.ID(), "issuer": x.Issuer(EntraV1), "issuerV2": x.Issuer(EntraV2),
		"keysUrl": x.KeysURL(), "eventGridAppId": x.EventGridAppID()}
}

func (e *Emulator) adminEntraToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Audience   string  `json:"audience"`
		TTLSeconds float64 `json:"ttlSeconds"`
		Version    string  `json:"version"`
		AppID      string  `json:"appId"`
		Tenant     string  `json:"tenant"`
	}
	if !decodeAdmin(w, r, 4<<10, &req) {
		return
	}
	t, ok := e.tenant(req.Tenant)
	if req.Audience == "" || len(req.AppID) > 64 || !ok {
		http.Error(w, "audience is required, appId is at most 64 bytes, and tenant one of the emulator's", http.StatusBadRequest)
		return
	}
	ttl := seconds(req.TTLSeconds)
	if req.TTLSeconds == 0 {
		ttl = time.Hour
	}
	claims := t.claims(req.Version, req.Audience, ttl)
	if req.AppID != "" {
		claims = t.claimsFor(req.AppID, t.appSP(req.AppID), req.Version, req.Audience, ttl)
	}
	writeJSON(w, http.StatusOK, map[string]string{"token": t.mustSign(claims)})
}

// decodeAdmin decodes a JSON body of at most limit bytes, or answers 400.
func decodeAdmin(w http.ResponseWriter, r *http.Request, limit int64, v any) bool {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit)).Decode(v); err != nil {
		http.Error(w, "bad request body: "+err.Error(), http.StatusBadRequest)
		return false
	}
	return true
}

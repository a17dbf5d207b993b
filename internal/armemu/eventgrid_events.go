package armemu

import (
	"encoding/json"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"
)

const (
	// resourceDataVersion is the dataVersion of Resource Manager events
	// and metadataVersion Event Grid's ("dataVersion": "2",
	// "metadataVersion": "1" in event-schema-subscriptions' examples).
	resourceDataVersion = "2"
	metadataVersion     = "1"
	// eventGridOrigin is the WebHook-Request-Origin Event Grid sends.
	eventGridOrigin = "eventgrid.azure.net"
)

// gridEvent is an event in the Event Grid schema (event-schema-subscriptions).
type gridEvent struct {
	Subject         string `json:"subject"`
	EventType       string `json:"eventType"`
	EventTime       string `json:"eventTime"`
	ID              string `json:"id"`
	Data            any    `json:"data"`
	DataVersion     string `json:"dataVersion"`
	MetadataVersion string `json:"metadataVersion"`
	Topic           string `json:"topic"`
}

// cloudEvent is the same event in CloudEvents 1.0: source is the topic,
// type the event type (cloud-event-schema's example of a system event).
type cloudEvent struct {
	SpecVersion string `json:"specversion"`
	Type        string `json:"type"`
	Source      string `json:"source"`
	ID          string `json:"id"`
	Time        string `json:"time"`
	Subject     string `json:"subject"`
	Data        any    `json:"data"`
}

// resourceData is data of a Resource Manager event: authorization,
// claims, correlationId, httpRequest (only for some operations),
// resourceProvider, resourceUri, operationName, status, subscriptionId,
// tenantId (event-schema-subscriptions, "The data object has the following
// properties").
type resourceData struct {
	Authorization    resourceAuthorization `json:"authorization"`
	Claims           map[string]string     `json:"claims"`
	CorrelationID    string                `json:"correlationId"`
	HTTPRequest      *EventHTTPRequest     `json:"httpRequest,omitempty"`
	ResourceProvider string                `json:"resourceProvider"`
	ResourceURI      string                `json:"resourceUri"`
	OperationName    string                `json:"operationName"`
	Status           string                `json:"status"`
	SubscriptionID   string                `json:"subscriptionId"`
	TenantID         string                `json:"tenantId"`
}

type resourceAuthorization struct {
	Scope    string            `json:"scope"`
	Action   string            `json:"action"`
	Evidence map[string]string `json:"evidence"`
}

// PublishEvent publishes ev on its subscription's system topic: every
// matching event subscription gets it, asynchronously. It never blocks: an
// event for a full queue, or larger than Event Grid's 1 MB, is dropped
// (Dropped lists it).
func (e *Emulator) PublishEvent(ev ResourceEvent) {
	subs := e.eg.live()
	if len(subs) == 0 {
		return
	}
	ev = e.complete(ev)
	var encoded [2][]byte // by schema, made once
	for _, s := range subs {
		if !s.matches(ev) {
			continue
		}
		i := 0
		if s.cfg.Schema == SchemaCloudEvents {
			i = 1
		}
		if encoded[i] == nil {
			encoded[i] = e.encodeEvent(ev, s.cfg.Schema)
		}
		s.enqueue(egEvent{id: ev.ID, body: encoded[i], at: time.Now()})
	}
}

// live are the subscriptions delivering now.
func (eg *eventGrid) live() []*egSub {
	eg.mu.Lock()
	defer eg.mu.Unlock()
	out := make([]*egSub, 0, len(eg.subs))
	for _, s := range eg.subs {
		out = append(out, s)
	}
	return out
}

func (s *egSub) enqueue(ev egEvent) {
	if len(ev.body) > MaxEventSize {
		s.rec.drop([]string{ev.id})
		return
	}
	select {
	case s.queue <- ev:
	default:
		s.rec.drop([]string{ev.id})
	}
}

// matches applies the subscription's filters: event types, the subject's
// prefix, and StringIn on data.operationName, compared case-insensitively
// as Event Grid's string filters are (includes/event-filtering: "string
// comparisons aren't case-sensitive").
func (s *egSub) matches(ev ResourceEvent) bool {
	in := func(list []string, v string) bool {
		return len(list) == 0 || slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(x, v) })
	}
	subject, begins, ends := ev.ResourceURI, s.cfg.SubjectBeginsWith, s.cfg.SubjectEndsWith
	return in(s.cfg.IncludedEventTypes, ev.EventType) && in(s.cfg.IncludedOperations, ev.OperationName) &&
		len(subject) >= len(begins) && strings.EqualFold(subject[:len(begins)], begins) &&
		len(subject) >= len(ends) && strings.EqualFold(subject[len(subject)-len(ends):], ends)
}

// complete fills in an event's defaults.
func (e *Emulator) complete(ev ResourceEvent) ResourceEvent {
	if ev.ID == "" {
		ev.ID = newUUID()
	}
	if ev.EventType == "" {
		ev.EventType = EventResourceActionSuccess
	}
	if ev.Status == "" {
		ev.Status = "Succeeded"
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	if ev.Subscription == "" {
		seg := strings.Split(strings.Trim(ev.ResourceURI, "/"), "/")
		if len(seg) > 1 && strings.EqualFold(seg[0], "subscriptions") {
			ev.Subscription = seg[1]
		}
	}
	return ev
}

// encodeEvent is ev in schema, as Event Grid delivers it.
func (e *Emulator) encodeEvent(ev ResourceEvent, schema string) []byte {
	topic := "/subscriptions/" + ev.Subscription
	at := ev.Time.UTC().Format(time.RFC3339Nano)
	data := e.resourceData(ev)
	var v any = gridEvent{Subject: ev.ResourceURI, EventType: ev.EventType, EventTime: at, ID: ev.ID, Data: data,
		DataVersion: resourceDataVersion, MetadataVersion: metadataVersion, Topic: topic}
	if schema == SchemaCloudEvents {
		v = cloudEvent{SpecVersion: "1.0", Type: ev.EventType, Source: topic, ID: ev.ID, Time: at, Subject: ev.ResourceURI, Data: data}
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic("armemu: encoding an event: " + err.Error()) // only strings and maps: cannot fail
	}
	return b
}

// resourceData is the event's data as event-schema-subscriptions' example
// of ResourceActionSuccess shows it, claims of an app-only token.
func (e *Emulator) resourceData(ev ResourceEvent) resourceData {
	provider, _, _ := strings.Cut(ev.OperationName, "/")
	tenant := e.entra.id
	return resourceData{
		Authorization: resourceAuthorization{Scope: ev.ResourceURI, Action: ev.OperationName,
			Evidence: map[string]string{"role": "Contributor", "principalType": "ServicePrincipal"}},
		Claims: map[string]string{"aud": DefaultAudience, "iss": e.entra.issuer(EntraV1), "appid": e.entra.sp, "appidacr": "2",
			"http://schemas.microsoft.com/identity/claims/tenantid": tenant, "ver": EntraV1},
		CorrelationID: newUUID(), HTTPRequest: ev.HTTPRequest, ResourceProvider: provider,
		ResourceURI: ev.ResourceURI, OperationName: ev.OperationName, Status: ev.Status,
		SubscriptionID: ev.Subscription, TenantID: tenant,
	}
}

// emitARMAction publishes the ResourceActionSuccess of a keys or
// regenerate action served by the ARM handler. Like Azure's, the subject
// and operation name keep the request's spelling: event-schema-subscriptions'
// example of a listKeys on an Event Hubs rule has subject
// ".../namespaces/{namespace}/AuthorizationRules/RootManageSharedAccessKey"
// (the rule, not the namespace) and operationName
// "Microsoft.EventHub/namespaces/AuthorizationRules/listKeys/action", as
// its httpRequest.url spells them. A Search key kind in the path is an
// argument, not part of the operation.
func (e *Emulator) emitARMAction(r *http.Request, p armPath) {
	if len(e.eg.live()) == 0 {
		return
	}
	seg := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	resource := seg[:len(seg)-len(p.action)]
	op := []string{seg[5], seg[6]}
	if len(resource) > 8 { // a child: its type, not its name
		op = append(op, resource[8])
	}
	op = append(op, p.action[0], "action")
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	e.PublishEvent(ResourceEvent{Subscription: p.res.Subscription, ResourceURI: "/" + strings.Join(resource, "/"),
		OperationName: strings.Join(op, "/"),
		HTTPRequest: &EventHTTPRequest{ClientRequestID: r.Header.Get("x-ms-client-request-id"), ClientIPAddress: ip,
			Method: r.Method, URL: e.URL() + r.URL.RequestURI()}})
}

// emitRegenerate publishes the ResourceActionSuccess of a regenerate done
// through the Go or admin API, spelt as the type's table spells it.
func (e *Emulator) emitRegenerate(r Resource) {
	t := Types[r.typeName()]
	op := t.Provider + "/"
	if t.Child != "" {
		op += t.Child + "/"
	}
	e.PublishEvent(ResourceEvent{Subscription: r.Subscription, ResourceURI: r.ID(), OperationName: op + t.Regenerate.Action + "/action"})
}

// emitKeysDisabled publishes the ResourceWriteSuccess of switching key
// authentication, a write of the resource (for Event Hubs and Service Bus,
// of the namespace, where disableLocalAuth lives).
func (e *Emulator) emitKeysDisabled(r Resource) {
	t := Types[r.typeName()]
	r.Rule = ""
	e.PublishEvent(ResourceEvent{EventType: EventResourceWriteSuccess, Subscription: r.Subscription, ResourceURI: r.ID(),
		OperationName: t.Provider + "/write"})
}

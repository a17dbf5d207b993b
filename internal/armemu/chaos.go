package armemu

import (
	"math/rand/v2"
	"strings"
)

// chaos hits a share of ARM requests with faults drawn at random: of
// every account, or of the accounts of subs.
type chaos struct {
	rate   float64
	faults []Fault
	rng    *rand.Rand
	subs   map[string]bool // lower-case; nil for every subscription
}

// SetChaos makes a share rate (0 to 1) of ARM requests, of every account,
// fail with a fault drawn from faults; a zero rate turns it off. seed makes
// the draw repeatable. Faults injected per account come first.
func (e *Emulator) SetChaos(rate float64, faults []Fault, seed uint64) {
	e.setChaos(nil, rate, faults, seed)
}

// SetChaosIn is SetChaos for the accounts of the subscriptions subs
// alone: the others are answered as if there were no chaos, so that a
// soak can share the emulator with other tests. The draw is repeatable
// for the same sequence of requests to subs.
func (e *Emulator) SetChaosIn(subs []string, rate float64, faults []Fault, seed uint64) {
	in := map[string]bool{}
	for _, s := range subs {
		in[strings.ToLower(s)] = true
	}
	e.setChaos(in, rate, faults, seed)
}

func (e *Emulator) setChaos(subs map[string]bool, rate float64, faults []Fault, seed uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if rate <= 0 || len(faults) == 0 {
		e.chaos = nil
		return
	}
	e.chaos = &chaos{rate: rate, faults: faults, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), subs: subs}
}

// chaosFault draws for one request to an account of sub; e.mu is held.
func (e *Emulator) chaosFault(sub string) (Fault, bool) {
	c := e.chaos
	if c == nil || (c.subs != nil && !c.subs[strings.ToLower(sub)]) || c.rng.Float64() >= c.rate {
		return Fault{}, false
	}
	return c.faults[c.rng.IntN(len(c.faults))], true
}

// FaultKinds are one fault of each kind ARM shows, for chaos: throttling,
// server errors, transport failures, bad bodies, hangs, and the permanent
// answers a misconfigured role or account gives.
func FaultKinds() []Fault {
	return []Fault{
		{Kind: FaultStatus, Status: 429, Code: "SubscriptionRequestsThrottled", Message: "Number of write requests exceeded the limit.", RetryAfter: 1},
		{Kind: FaultStatus, Status: 500, Code: "InternalServerError", Message: "Encountered internal server error."},
		{Kind: FaultStatus, Status: 503, Code: "ServiceUnavailable", Message: "The service is unavailable.", RetryAfter: 1},
		{Kind: FaultReset},
		{Kind: FaultTruncated},
		{Kind: FaultHTML},
		{Kind: FaultHang},
		{Kind: FaultStatus, Status: 401, Code: "InvalidAuthenticationToken", Message: "The access token is invalid."},
		{Kind: FaultStatus, Status: 403, Code: "AuthorizationFailed", Message: "The client does not have authorization."},
		{Kind: FaultStatus, Status: 404, Code: "ResourceNotFound", Message: "The Resource was not found."},
		{Kind: FaultStatus, Status: 409, Code: "OperationNotAllowed", Message: "SharedKey is not allowed."},
	}
}

package spec

import (
	"hash/fnv"
	"time"
)

// DefaultRenewBefore is Spec.RenewBefore when unset: a SAS's renewal
// window opens with half its life left.
const DefaultRenewBefore = 0.5

// RenewAt is when a SAS of s for the account id, expiring at exp, is
// renewed. Its renewal window opens when RenewBefore of its life is left
// and closes when half of that is left; each account and value renews at
// its own fixed place in the window, so that accounts whose values were
// made together (a first sync of 100,000) renew spread over it, and stay
// spread after. A value that is not a SAS is never renewed (the zero time
// means never).
func RenewAt(s Spec, id string, exp time.Time) time.Time {
	if !s.Expires() {
		return time.Time{}
	}
	share := s.RenewBefore
	if share <= 0 {
		share = DefaultRenewBefore
	}
	window := time.Duration(float64(s.Expiry) * share)
	opens := exp.Add(-window)
	return opens.Add(time.Duration(spread(id, s.Name) * float64(window/2)))
}

// spread is a fixed number in [0, 1) for an account and a value.
func spread(id, name string) float64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(id))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(name))
	return float64(h.Sum64()>>11) / float64(1<<53)
}

package config

import "time"

// API is the [api] section: the protection of the daemon's operator
// endpoints (POST /sync, GET /status, the details of /readyz).
type API struct {
	// TokenFile holds the bearer token callers must send. Unset, the
	// operator endpoints answer 404 and /readyz stays terse for everyone.
	TokenFile string `toml:"token_file"`
	// SyncMinInterval is the least time between two accepted full-sync
	// triggers over HTTP; one sooner is answered 429 and costs nothing.
	SyncMinInterval Duration `toml:"sync_min_interval"`
}

// Bounds of api.sync_min_interval: below a second the limit protects
// nothing; above a day a trigger is no longer "now".
const (
	minSyncInterval = time.Second
	maxSyncInterval = 24 * time.Hour
)

// DefaultAPI is the [api] section an empty file gives.
func DefaultAPI() API {
	return API{SyncMinInterval: Duration{10 * time.Second}}
}

func (a *API) validate(p *Problems) {
	if d := a.SyncMinInterval.Duration; d < minSyncInterval || d > maxSyncInterval {
		p.add("api.sync_min_interval", "must be between %s and %s, got %s", minSyncInterval, maxSyncInterval, d)
	}
}

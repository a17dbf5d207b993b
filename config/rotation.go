package config

import "fmt"

// Rotates reports whether any account or [[discover]] block has
// rotate_every: such a config needs a KV version 2 mount.
func (c *Config) Rotates() bool {
	for _, a := range c.Accounts {
		if a.RotateEvery.Duration > 0 {
			return true
		}
	}
	for _, d := range c.Discover {
		if d.RotateEvery.Duration > 0 {
			return true
		}
	}
	return false
}

// validateRotationMount refuses rotate_every where the config says the
// mount is KV version 1: rotation keeps its record and its times in the
// secret's custom metadata, which KV version 1 does not have, so keysync
// would sync the keys and never rotate them. Where kv_version is unset,
// keysync learns the version at start and refuses it there.
func (c *Config) validateRotationMount(p *Problems) {
	if c.Vault.KVVersion != 1 {
		return
	}
	const msg = "needs a KV version 2 mount, but vault.kv_version = 1: KV version 1 keeps no metadata, so keysync could never rotate"
	for i, a := range c.Accounts {
		if a.RotateEvery.Duration > 0 {
			p.add(fmt.Sprintf("account[%d].rotate_every", i), msg)
		}
	}
	for i, d := range c.Discover {
		if d.RotateEvery.Duration > 0 {
			p.add(fmt.Sprintf("discover[%d].rotate_every", i), msg)
		}
	}
}

// Package account is how every layer of keysync names one account: the
// scheduler, discovery, the targeted-sync index and the daemon's estate
// all identify it by its Key, and hold it as the Key's ID.
package account

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"unique"

	"github.com/keysync/keysync/sources"
)

// Key identifies an account: its resource, without case (as ARM compares
// resource ids: sources.Account.Key), and the Vault path it syncs to. One
// resource synced to two paths is two accounts.
type Key struct {
	Resource string
	Path     string
}

// KeyOf is the key of the account a syncs to path.
func KeyOf(a sources.Account, path string) Key { return Key{Resource: a.Key(), Path: path} }

// String is the key as one line, resource then path.
func (k Key) String() string { return k.Resource + "|" + k.Path }

// ID is what a holder keeps of a key: 16 bytes in place of the ~140 of
// its strings. Names chosen to collide would take some 2^64 hashes to
// find.
type ID [16]byte

// ID is the first 128 bits of the SHA-256 of the resource's length, the
// resource and the path: no resource and path can pass for another pair.
func (k Key) ID() ID {
	// One buffer on the stack for the usual key (a discovery of 100,000
	// accounts takes an ID of each several times).
	var buf [320]byte
	b := binary.BigEndian.AppendUint64(buf[:0], uint64(len(k.Resource)))
	b = append(append(b, k.Resource...), k.Path...)
	sum := sha256.Sum256(b)
	return ID(sum[:16])
}

// Compare orders IDs, for a sorted slice of them.
func (id ID) Compare(other ID) int { return bytes.Compare(id[:], other[:]) }

// Intern returns the one copy of s that every caller shares: the values
// many accounts hold alike (a subscription, a type) are then held once.
func Intern(s string) string { return unique.Make(s).Value() }

package config

import (
	"strings"

	"github.com/BurntSushi/toml"
)

// accountsPerDecode is how many [[account]] tables decode hands the TOML
// decoder at once. The decoder holds its whole tree (about 1.8 kB an
// account) until it is done, and the heap grows to twice what is live: a
// 10,000-account file decoded in one piece is the process's peak memory.
const accountsPerDecode = 500

// decode decodes text over Defaults and lists its unknown keys. accounts
// are where text's [[account]] tables start (see checkShape); with more
// than per of them, what comes before the first is decoded on its own and
// then the tables, per at a time, each cut padded with newlines so that
// the decoder's line numbers stay the file's. The result, and the error
// (see wholeError), are the ones decoding the text whole gives.
func decode(text string, accounts []mark, per int) (*Config, Problems, error) {
	if len(accounts) <= per {
		return decodeWhole(text)
	}
	cfg := Defaults()
	md, err := toml.Decode(text[:accounts[0].at], &cfg)
	if err != nil {
		return nil, nil, wholeError(text, err)
	}
	if md.IsDefined("account") {
		// Accounts before the first [[account]] (account = [...]): the
		// decoder must see them together with the tables.
		return decodeWhole(text)
	}
	probs := undecoded(md)
	cfg.Accounts = make([]Account, 0, len(accounts))
	for i := 0; i < len(accounts); i += per {
		start, end := accounts[i], len(text)
		if i+per < len(accounts) {
			end = accounts[i+per].at
		}
		var part struct {
			Account []Account `toml:"account"`
		}
		md, err := toml.Decode(strings.Repeat("\n", start.line-1)+text[start.at:end], &part)
		if err != nil {
			return nil, nil, wholeError(text, err)
		}
		cfg.Accounts = append(cfg.Accounts, part.Account...)
		probs = append(probs, undecoded(md)...)
	}
	return &cfg, probs, nil
}

// decodeWhole decodes text in one piece.
func decodeWhole(text string) (*Config, Problems, error) {
	cfg := Defaults()
	md, err := toml.Decode(text, &cfg)
	if err != nil {
		return nil, nil, decodeError(err)
	}
	return &cfg, undecoded(md), nil
}

// wholeError is the error decoding text whole gives, for a file a piece of
// which failed: the decoder parses a whole text before it fills any field,
// so a syntax error further on is the one to report, not a type error in
// this piece. err, a piece's own, stands if the whole text decodes.
func wholeError(text string, err error) error {
	if _, _, whole := decodeWhole(text); whole != nil {
		return whole
	}
	return decodeError(err)
}

// undecoded lists the keys the decoder found no field for.
func undecoded(md toml.MetaData) Problems {
	var probs Problems
	for _, k := range md.Undecoded() {
		probs.add(k.String(), "unknown key")
	}
	return probs
}

package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/keysync/keysync/secret"
)

// Bounds of a bearer token file's content.
const (
	MinTokenLen  = 16
	maxTokenFile = 4096
)

// Token is the bearer token of the operator endpoints, read from a file.
// The file is read again when its size or modification time changes; a
// file that has become unusable refuses every caller until it is fixed.
type Token struct {
	path string
	log  *slog.Logger

	mu    sync.Mutex
	stamp fileStamp
	sum   [sha256.Size]byte
	err   error
}

// fileStamp tells whether a file changed since it was read. The inode and
// ctime catch a rewrite that keeps size and mtime (a new token of the same
// length within the filesystem's mtime granularity, a tool that restores
// mtime): ctime moves on every change and cannot be set back.
type fileStamp struct {
	mod   time.Time
	size  int64
	mode  os.FileMode
	ino   uint64
	ctime syscall.Timespec
}

// stampOf is fi's stamp.
func stampOf(fi os.FileInfo) fileStamp {
	st := fileStamp{mod: fi.ModTime(), size: fi.Size(), mode: fi.Mode()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino, st.ctime = sys.Ino, sys.Ctim
	}
	return st
}

// LoadToken reads the token at path; an unusable file is an error.
func LoadToken(path string, log *slog.Logger) (*Token, error) {
	t := &Token{path: path, log: log}
	t.refresh()
	if t.err != nil {
		return nil, t.err
	}
	return t, nil
}

// Match reports whether r carries the token as "Authorization: Bearer".
// The comparison takes the same time whatever the guess.
func (t *Token) Match(r *http.Request) bool {
	given, ok := bearer(r)
	return ok && t.Equal(given)
}

// Equal reports whether given is the token, in the same time whatever the
// guess; the Event Grid webhook's shared secret is a Token too.
func (t *Token) Equal(given string) bool {
	sum := sha256.Sum256([]byte(strings.TrimSpace(given)))
	t.mu.Lock()
	defer t.mu.Unlock()
	t.refreshLocked()
	return t.err == nil && subtle.ConstantTimeCompare(sum[:], t.sum[:]) == 1
}

// Usable is why the token file cannot be used now (read again if it
// changed), nil when it can: then no caller can be checked against it.
func (t *Token) Usable() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.refreshLocked()
	return t.err
}

func (t *Token) refresh() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.refreshLocked()
}

// refreshLocked reads the file again if it changed; t.mu is held.
func (t *Token) refreshLocked() {
	fi, err := os.Stat(t.path)
	if err == nil && t.err == nil && stampOf(fi) == t.stamp {
		return
	}
	sum, stamp, err := readToken(t.path)
	switch {
	case err != nil && (t.err == nil || t.err.Error() != err.Error()):
		t.log.Error("api token file unusable: refusing every caller until it is fixed", "err", err)
	case err == nil && t.err != nil && t.stamp != (fileStamp{}):
		t.log.Info("api token file usable again", "path", t.path)
	}
	t.err = err
	if err == nil {
		t.sum, t.stamp = sum, stamp
	}
}

// readToken reads and checks a token file: it passes
// secret.CheckFileMode (owner root or keysync, at most keysync's own group
// may read), and it holds one printable token of at least MinTokenLen bytes.
func readToken(path string) ([sha256.Size]byte, fileStamp, error) {
	f, fi, err := openToken(path)
	if err != nil {
		return [sha256.Size]byte{}, fileStamp{}, err
	}
	defer f.Close() //nolint:errcheck // opened read-only: a close error loses nothing
	tok, err := readTokenFrom(f, path)
	if err != nil {
		return [sha256.Size]byte{}, fileStamp{}, err
	}
	return sha256.Sum256(tok), stampOf(fi), nil
}

// ReadTokenFile returns the token in path, checked as the daemon checks
// it; the client side of the API uses it.
func ReadTokenFile(path string) ([]byte, error) {
	f, _, err := openToken(path)
	if err != nil {
		return nil, err
	}
	defer f.Close() //nolint:errcheck // opened read-only: a close error loses nothing
	return readTokenFrom(f, path)
}

// openToken opens a token file that is a regular file only its owner can
// read.
func openToken(path string) (*os.File, os.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("api token file: %w", err)
	}
	fi, err := f.Stat()
	switch {
	case err != nil:
		err = fmt.Errorf("api token file: %w", err)
	case !fi.Mode().IsRegular():
		err = fmt.Errorf("api token file %s: not a regular file", path)
	default:
		err = secret.CheckFileMode("api token file", path, fi)
	}
	if err != nil {
		_ = f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

func readTokenFrom(r io.Reader, path string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxTokenFile+1))
	if err != nil {
		return nil, fmt.Errorf("api token file: %w", err)
	}
	tok, err := checkToken(b)
	if err != nil {
		return nil, fmt.Errorf("api token file %s: %w", path, err)
	}
	return tok, nil
}

// checkToken trims the file's content and refuses what cannot be a token.
// Its errors never quote the content.
func checkToken(b []byte) ([]byte, error) {
	if len(b) > maxTokenFile {
		return nil, fmt.Errorf("larger than %d bytes", maxTokenFile)
	}
	tok := []byte(strings.TrimSpace(string(b)))
	if len(tok) < MinTokenLen {
		return nil, fmt.Errorf("the token is %d bytes, want at least %d", len(tok), MinTokenLen)
	}
	for _, c := range tok {
		if c < 0x21 || c > 0x7e {
			return nil, errors.New("the token must be one line of printable ASCII without spaces")
		}
	}
	return tok, nil
}

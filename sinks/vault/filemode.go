package vault

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Mode bits that make keysync refuse a file holding a secret. A secret id
// is refused as soon as group or others may read or change it, as an
// inline secret_id is in the config file. A token file is refused when
// others may read it or group or others may change it; group read alone
// is Vault Agent's default for its file sink (mode 0640), so it only
// warns: see checkTokenFile.
const (
	secretIDRefused  fs.FileMode = 0o077
	tokenFileRefused fs.FileMode = 0o027
	tokenFileWarned  fs.FileMode = 0o040
)

// errUnsafeFile marks a refusal for a file's mode; it is permanent.
var errUnsafeFile = errors.New("unsafe file mode")

// unsafeFileError names the file, its mode and how to fix it.
type unsafeFileError struct {
	what, path string
	mode       fs.FileMode
}

// Error implements error.
func (e *unsafeFileError) Error() string {
	return fmt.Sprintf("%s %s is mode %#o: group or others can read or change this secret; chmod 600 %[2]s (for a Kubernetes secret volume, defaultMode: 0400)",
		e.what, e.path, e.mode)
}

// Is makes errors.Is(err, errUnsafeFile) true.
func (e *unsafeFileError) Is(target error) bool { return target == errUnsafeFile }

// checkFileMode refuses path when its permission bits meet refused. It
// follows symbolic links: the mode that matters is the target's.
func checkFileMode(what, path string, refused fs.FileMode) (fs.FileInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	m := fi.Mode().Perm()
	if m&refused != 0 {
		return nil, &unsafeFileError{what: what, path: path, mode: m}
	}
	return fi, nil
}

package vault

import (
	"errors"
	"fmt"
	"os"

	"github.com/keysync/keysync/secret"
)

// checkFileMode stats path (following links: the target's mode is what
// matters) and refuses it when group or others could read or change the
// secret in it, by the one rule keysync keeps for every secret file:
// secret.CheckFileMode.
func checkFileMode(what, path string) (os.FileInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := secret.CheckFileMode(what, path, fi); err != nil {
		return nil, err
	}
	return fi, nil
}

// unsafeFile tells a refusal for a file's mode, which is permanent.
func unsafeFile(err error) bool {
	var fm *secret.FileModeError
	return errors.As(err, &fm)
}

package secret

import (
	"fmt"
	"io/fs"
	"os"
	"slices"
	"syscall"
)

// CheckFileMode says whether a file that holds a secret (a config with an
// inline secret_id, a secret id, a token) is private enough to use. Its
// owner must be root or this process, others must have no access at all,
// and only the owner may write. Group read is
// accepted when the file's group is one of this process's own groups: that
// is how a service reads a root-owned file (root:keysync 0640 for the
// systemd unit's static user, a pod's fsGroup for a shared volume), and it
// gives the secret to no one the process does not already run as. Any
// other group read is refused. The error names the path and the mode,
// never the content.
func CheckFileMode(what, path string, fi fs.FileInfo) error {
	m := fi.Mode().Perm()
	switch {
	case !ownedByRootOrUs(fi):
		return &FileModeError{What: what, Path: path, Mode: m, Who: "it belongs to another user, who can change it"}
	case m&0o007 != 0:
		return &FileModeError{What: what, Path: path, Mode: m, Who: "others can read or change it"}
	case m&0o020 != 0:
		return &FileModeError{What: what, Path: path, Mode: m, Who: "its group can change it"}
	case m&0o040 != 0 && !inOwnGroups(fi):
		return &FileModeError{What: what, Path: path, Mode: m, Who: "its group, which this process is not in, can read it"}
	}
	return nil
}

// FileModeError is a refusal for a file's mode; it is permanent.
type FileModeError struct {
	What, Path string
	Mode       fs.FileMode
	Who        string
}

// Error names the file, its mode and the fix.
func (e *FileModeError) Error() string {
	return fmt.Sprintf("%s %s is mode %#o: %s; chmod 600 %[2]s, or 640 with the group keysync runs as (for a Kubernetes secret volume, defaultMode 0440 with fsGroup)",
		e.What, e.Path, e.Mode, e.Who)
}

// ownedByRootOrUs tells whether the file's owner is root or this process:
// anyone else could rewrite the secret whatever the mode says.
func ownedByRootOrUs(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && (st.Uid == 0 || int(st.Uid) == os.Geteuid())
}

// inOwnGroups tells whether the file's group is this process's effective
// or a supplementary group. Where the platform gives no group id, the
// answer is no, and group read is refused.
func inOwnGroups(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	gid := int(st.Gid)
	if gid == os.Getegid() {
		return true
	}
	groups, err := os.Getgroups()
	return err == nil && slices.Contains(groups, gid)
}

package vault

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/hashicorp/vault/api"

	"github.com/keysync/keysync/fault"
	"github.com/keysync/keysync/sinks"
)

// opCheckMount names the start-time check that the mount is a KV engine.
const opCheckMount = "check-mount"

// maxProbePaths bounds how many account paths a KV probe reads.
const maxProbePaths = 3

// checkMount makes sure mount is a KV secrets engine before anything is
// written to it, and returns its KV version. want is kv_version (0: use
// what Vault says). It asks sys/internal/ui/mounts/<mount>, which Vault
// answers for any token with some right under the mount. When that answers
// 403 and want is set, a probe of KV-only endpoints must answer as KV
// (see probeKV); with want 0 it is refused: nothing else says the version.
func checkMount(ctx context.Context, c *api.Client, mount string, want int, probes []string) (int, error) {
	sec, err := c.Logical().ReadWithContext(ctx, "sys/internal/ui/mounts/"+mount)
	if statusOf(err) == http.StatusForbidden {
		if want == 0 {
			return 0, refuse(http.StatusForbidden, "Vault answers 403 to sys/internal/ui/mounts/%s: the mount does not exist, or this token cannot read its type; "+
				"grant the token read on sys/internal/ui/mounts/%[1]s, or set kv_version explicitly", mount)
		}
		return probeKV(ctx, c, mount, want, probes)
	}
	if err != nil {
		return 0, classify(opCheckMount, mount, fmt.Errorf("reading sys/internal/ui/mounts/%s (what engine the mount is): %w", mount, err))
	}
	if sec == nil || sec.Data == nil {
		return 0, refuse(0, "no mount at %q", mount)
	}
	return kvFromMountInfo(mount, want, sec.Data)
}

// kvFromMountInfo judges Vault's description of the mount that holds
// mount: it must be a KV engine mounted exactly at mount, of version want
// when want is set.
func kvFromMountInfo(mount string, want int, data map[string]any) (int, error) {
	typ, _ := data["type"].(string)
	path, _ := data["path"].(string)
	if typ != "kv" && typ != "generic" {
		return 0, refuse(0, "%q is in a %q secrets engine (mounted at %q), not KV: keysync writes only to a KV mount", mount, typ, path)
	}
	// Vault prefixes the path with the namespace's when mount reaches into
	// a child namespace (vault/logical_system.go, pathInternalUIMountRead):
	// the mount point must still end exactly at mount.
	if path != mount+"/" && !strings.HasSuffix(path, "/"+mount+"/") {
		return 0, refuse(0, "%q is not a mount point: it lies inside the KV mount %q; set mount = %q and put the rest in each account's path",
			mount, path, strings.TrimSuffix(path, "/"))
	}
	v := 1
	if opts, _ := data["options"].(map[string]any); opts["version"] == "2" {
		v = 2
	}
	if want != 0 && want != v {
		return 0, refuse(0, "mount %q is KV version %d, but kv_version = %d", mount, v, want)
	}
	return v, nil
}

// probeKV looks for proof that mount is a KV engine of version want when
// the token cannot read sys/internal/ui/mounts. Only a 200 answer counts,
// from a mount that says it is "kv" (Vault puts mount_type in every
// answer) and with the shape of KV's own answer: an empty 404 is no proof,
// the identity engine answers any unknown path that way. For version 2 it
// reads <mount>/config (max_versions, cas_required) and the accounts'
// <mount>/metadata/<path> (versions, current_version); for version 1,
// which has no KV-only endpoint, a LIST of the mount or a read of an
// account's secret.
func probeKV(ctx context.Context, c *api.Client, mount string, want int, probes []string) (int, error) {
	probes = probes[:min(len(probes), maxProbePaths)]
	type probe struct {
		path string
		list bool
		keys []string
	}
	var tries []probe
	if want == 2 {
		tries = append(tries, probe{path: mount + "/config", keys: []string{"max_versions", "cas_required"}})
		for _, p := range probes {
			tries = append(tries, probe{path: mount + "/metadata/" + p, keys: []string{"versions", "current_version"}})
		}
	} else {
		tries = append(tries, probe{path: mount + "/", list: true, keys: []string{"keys"}})
		for _, p := range probes {
			tries = append(tries, probe{path: mount + "/" + p})
		}
	}
	for _, t := range tries {
		ok, err := answersAsKV(ctx, c, t.path, t.list, t.keys)
		if ok || err != nil {
			return want, err
		}
	}
	names := make([]string, len(tries))
	for i, t := range tries {
		names[i] = t.path
	}
	return 0, refuse(http.StatusForbidden, "this token cannot read sys/internal/ui/mounts/%s, and none of %s answered as KV version %d; "+
		"grant the token read on sys/internal/ui/mounts/%[1]s (or on %[4]s/config for KV version 2)", mount, strings.Join(names, ", "), want, mount)
}

// answersAsKV reads (or lists) path and reports whether a KV engine
// answered with keys in its data. Only a transient failure is an error;
// any other refusal is simply no proof.
func answersAsKV(ctx context.Context, c *api.Client, path string, list bool, keys []string) (bool, error) {
	var sec *api.Secret
	var err error
	if list {
		sec, err = c.Logical().ListWithContext(ctx, path)
	} else {
		sec, err = c.Logical().ReadWithContext(ctx, path)
	}
	if err != nil {
		if ce := classify(opCheckMount, path, err); fault.Transient(ce) {
			return false, ce
		}
		return false, nil
	}
	if sec == nil || sec.MountType != "kv" || sec.Data == nil {
		return false, nil
	}
	for _, k := range keys {
		if _, ok := sec.Data[k]; !ok {
			return false, nil
		}
	}
	return true, nil
}

// refuse is a permanent refusal of the mount.
func refuse(status int, format string, args ...any) error {
	return &sinks.Error{Op: opCheckMount, Path: "", StatusCode: status, Err: fmt.Errorf(format, args...)}
}

// statusOf is the HTTP status of a Vault answer, 0 when there was none.
func statusOf(err error) int {
	var re *api.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

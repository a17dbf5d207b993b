// Package testenv starts the real parts keysync's tests run against: a Vault
// dev server built from Vault's own module (tools/vault), the ARM emulator
// over TLS, and the keysync binary itself; and the hostile clients of a
// listen port its tests flood it with (flood.go). Nothing here skips: a
// missing part fails the test with the command that provides it.
package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/vault/api"
)

// RootToken is the dev server's root token.
const RootToken = "keysync-test-root" //nolint:gosec // G101: the root token of a throwaway dev server on loopback, not a credential

// V1Mount is a KV version 1 mount the dev server is given; "secret" is KV v2.
const V1Mount = "kv1"

// Vault is a running `vault server -dev`.
type Vault struct {
	Addr   string
	Client *api.Client
	// CACert is the CA file of a -dev-tls server, "" otherwise.
	CACert string
	cmd    *exec.Cmd
	out    *LockedBuffer
}

// LockedBuffer collects a process's output while tests read it.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write implements io.Writer.
func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns what was written so far.
func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// RepoRoot finds the keysync module's folder from the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.HasPrefix(b, []byte("module github.com/keysync/keysync\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("keysync go.mod not found above the working directory")
		}
		dir = parent
	}
}

// VaultBinary is $KEYSYNC_VAULT_BIN, else tools/vault/bin/vault.
func VaultBinary() (string, error) {
	if p := os.Getenv("KEYSYNC_VAULT_BIN"); p != "" {
		return p, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, "tools", "vault", "bin", "vault")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("no vault binary at %s: run `make vault` (the README's test command builds it)", p)
	}
	return p, nil
}

// StartVault starts a dev server on a free loopback port, with KV v2 at
// secret/ and KV v1 at kv1/, and waits until it answers.
func StartVault() (*Vault, error) { return startVault("") }

// StartVaultTLS starts a dev server that serves TLS (-dev-tls) with a CA
// it writes into certDir, as CACert.
func StartVaultTLS(certDir string) (*Vault, error) { return startVault(certDir) }

func startVault(tlsDir string) (*Vault, error) {
	bin, err := VaultBinary()
	if err != nil {
		return nil, err
	}
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	v := &Vault{Addr: "http://" + addr, out: &LockedBuffer{}}
	args := []string{"server", "-dev", "-dev-root-token-id=" + RootToken, "-dev-listen-address=" + addr, "-dev-no-store-token"}
	if tlsDir != "" {
		v.Addr, v.CACert = "https://"+addr, filepath.Join(tlsDir, "vault-ca.pem")
		args = append(args, "-dev-tls", "-dev-tls-cert-dir="+tlsDir)
	}
	v.cmd = exec.Command(bin, args...) //nolint:noctx // a long-lived server that Stop ends, not a context
	// The server dies with the test process, even one killed by a timeout.
	v.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	v.cmd.Stdout, v.cmd.Stderr = v.out, v.out
	v.cmd.Env = append(os.Environ(), "VAULT_ADDR="+v.Addr, "HOME="+os.TempDir())
	if err := v.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting vault: %w", err)
	}
	if err := v.connect(); err != nil {
		v.Stop()
		return nil, err
	}
	return v, nil
}

func (v *Vault) connect() error {
	cfg := api.DefaultConfig()
	cfg.Address = v.Addr
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if v.CACert != "" {
		for { // the server writes its CA once it runs
			if _, err := os.Stat(v.CACert); err == nil || ctx.Err() != nil {
				break
			}
			poll(ctx, 50*time.Millisecond)
		}
		if err := cfg.ConfigureTLS(&api.TLSConfig{CACert: v.CACert}); err != nil {
			return err
		}
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		return err
	}
	c.SetToken(RootToken)
	v.Client = c
	for {
		var mounts map[string]*api.MountOutput
		if mounts, err = c.Sys().ListMountsWithContext(ctx); err == nil && mounts["secret/"] != nil {
			break
		}
		if ctx.Err() != nil {
			if err == nil {
				err = errors.New("no secret/ mount")
			}
			return fmt.Errorf("vault dev server did not come up: %w\n%s", err, v.out.String())
		}
		poll(ctx, 100*time.Millisecond)
	}
	return c.Sys().Mount(V1Mount, &api.MountInput{Type: "kv", Options: map[string]string{"version": "1"}})
}

// poll waits one polling interval d, or until ctx's deadline.
func poll(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// Stop ends the server.
func (v *Vault) Stop() {
	if v.cmd != nil && v.cmd.Process != nil {
		_ = v.cmd.Process.Kill()
		_ = v.cmd.Wait()
	}
}

// Env is the environment a keysync process needs to reach this Vault.
func (v *Vault) Env() []string {
	return []string{"VAULT_ADDR=" + v.Addr, "VAULT_TOKEN=" + RootToken}
}

// handedOut are the addresses FreeAddr has returned in this process:
// tests running in parallel each bind theirs some time after asking, and
// must not be given one another's.
var handedOut sync.Map

// FreeAddr returns a loopback address with a port free right now, never
// one it returned before in this process.
func FreeAddr() (string, error) {
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		addr := ln.Addr().String()
		if err := ln.Close(); err != nil {
			return "", err
		}
		if _, taken := handedOut.LoadOrStore(addr, true); !taken {
			return addr, nil
		}
	}
	return "", errors.New("no loopback port free that was not handed out before")
}

var unsealKeyRE = regexp.MustCompile(`Unseal Key: (\S+)`)

// Seal seals the dev server, as `vault operator seal` does.
func (v *Vault) Seal() error { return v.Client.Sys().Seal() }

// Unseal unseals it with the key the dev server printed at start.
func (v *Vault) Unseal() error {
	m := unsealKeyRE.FindStringSubmatch(v.out.String())
	if m == nil {
		return errors.New("no unseal key in the dev server's output")
	}
	st, err := v.Client.Sys().Unseal(m[1])
	if err == nil && st.Sealed {
		err = errors.New("still sealed")
	}
	return err
}

// Pid is the server's process id, for reading what it costs in /proc.
func (v *Vault) Pid() int { return v.cmd.Process.Pid }

// Pause stops the server process (SIGSTOP): it accepts connections and
// answers nothing, as an unreachable Vault behind a load balancer does.
func (v *Vault) Pause() error { return v.cmd.Process.Signal(syscall.SIGSTOP) }

// Resume continues a paused server.
func (v *Vault) Resume() error { return v.cmd.Process.Signal(syscall.SIGCONT) }

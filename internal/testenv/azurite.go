package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Azurite is a running Azurite blob service, Microsoft's Azure Storage
// emulator (npm package azurite): a real consumer of Storage connection
// strings and SAS tokens, which checks SharedKey and SAS signatures.
type Azurite struct {
	// Addr is host:port of the blob service; it stays the same across
	// Restart, so an endpoint that names it stays good.
	Addr string
	dir  string
	cmd  *exec.Cmd
	out  *LockedBuffer
	// exited is closed when the process has exited.
	exited chan struct{}
}

// errNoAzurite: the tests need Azurite and it is not installed.
var errNoAzurite = errors.New("azurite-blob is not installed: run make deps (it installs the npm package azurite)")

// StartAzurite starts Azurite's blob service on a free loopback port with
// the accounts given as AZURITE_ACCOUNTS takes them ("name:key1:key2",
// keys base64), its data in memory and dir its working directory, and
// waits until it answers.
func StartAzurite(dir, accounts string) (*Azurite, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	a := &Azurite{Addr: addr, dir: dir}
	return a, a.start(accounts)
}

// BlobEndpoint is an account's blob endpoint, path-style as Azurite
// serves it.
func (a *Azurite) BlobEndpoint(account string) string { return "http://" + a.Addr + "/" + account }

// Restart stops Azurite and starts it again on the same address with
// other accounts (keys regenerated); the data is gone.
func (a *Azurite) Restart(accounts string) error {
	a.Stop()
	return a.start(accounts)
}

func (a *Azurite) start(accounts string) error {
	bin, err := exec.LookPath("azurite-blob")
	if err != nil {
		return errNoAzurite
	}
	host, port, _ := net.SplitHostPort(a.Addr)
	a.out = &LockedBuffer{}
	a.cmd = exec.Command(bin, "--blobHost", host, "--blobPort", port, "--skipApiVersionCheck", //nolint:noctx // a server that Stop ends
		"--inMemoryPersistence", "--silent")
	a.cmd.Dir = a.dir
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	a.cmd.Stdout, a.cmd.Stderr = a.out, a.out
	a.cmd.Env = append(os.Environ(), "AZURITE_ACCOUNTS="+accounts)
	if err := a.cmd.Start(); err != nil {
		return fmt.Errorf("starting azurite: %w", err)
	}
	a.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		_ = cmd.Wait()
		close(exited)
	}(a.cmd, a.exited)
	if err := a.wait(); err != nil {
		a.Stop()
		return err
	}
	return nil
}

// azuriteStart bounds how long Azurite may take to answer after it is
// started: Node.js loading it takes seconds on a quiet machine and took
// over a minute beside three builds and the race tests (load 29); the
// bound only ends a start that would hang.
const azuriteStart = 4 * time.Minute

// wait returns once the blob service answers HTTP, whatever it answers.
func (a *Azurite) wait() error {
	ctx, cancel := context.WithTimeout(context.Background(), azuriteStart)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+a.Addr+"/", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			return nil
		}
		select {
		case <-a.exited:
			return fmt.Errorf("azurite exited before it answered: %s", strings.TrimSpace(a.out.String()))
		default:
		}
		if ctx.Err() != nil {
			return fmt.Errorf("azurite did not answer on %s: %w\n%s", a.Addr, err, strings.TrimSpace(a.out.String()))
		}
		poll(ctx, 100*time.Millisecond)
	}
}

// Stop ends Azurite.
func (a *Azurite) Stop() {
	if a.cmd != nil && a.cmd.Process != nil {
		_ = a.cmd.Process.Kill()
		<-a.exited
	}
}

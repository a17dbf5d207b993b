package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/keysync/keysync/internal/armemu"
)

// Emulator is a running in-process ARM emulator and the files a client
// process needs to trust it.
type Emulator struct {
	*armemu.Emulator
	// CAFile holds the emulator's CA, for SSL_CERT_FILE.
	CAFile string
}

// StartEmulator starts the emulator on a free loopback port and writes its
// CA into dir.
func StartEmulator(dir string) (*Emulator, error) {
	emu := armemu.New()
	if err := emu.Start("127.0.0.1:0"); err != nil {
		return nil, err
	}
	ca := filepath.Join(dir, "armemu-ca.pem")
	if err := os.WriteFile(ca, emu.CACertPEM(), 0o600); err != nil {
		return nil, errors.Join(fmt.Errorf("writing CA: %w", err), emu.Close())
	}
	return &Emulator{Emulator: emu, CAFile: ca}, nil
}

// Env is the environment that sends a keysync process's managed-identity
// credential to the emulator and makes it trust the emulator's TLS.
func (e *Emulator) Env() []string {
	return []string{
		"IDENTITY_ENDPOINT=" + e.IdentityEndpoint(),
		"IDENTITY_HEADER=" + e.IdentityHeader,
		"SSL_CERT_FILE=" + e.CAFile,
	}
}

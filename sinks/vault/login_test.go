package vault

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/keysync/keysync/config"
	"github.com/keysync/keysync/fault"
	"github.com/keysync/keysync/internal/testenv"
	"github.com/keysync/keysync/sinks"
)

// TestLoginFailureNamesTheMethod: a bad secret id is reported as the
// AppRole login failing, with Vault's reason, permanently.
func TestLoginFailureNamesTheMethod(t *testing.T) {
	needVault(t)
	roleID, sidFile := enableAppRole(t, "approle-bad", putPolicy(t), "1h", "2h")
	writeFile(t, sidFile, "00000000-0000-0000-0000-000000000000", 0)
	err := NewAuth(client(t, ""), AuthOptions{VaultAuth: config.VaultAuth{Method: config.AuthAppRole, MountPath: "approle-bad", RoleID: roleID, SecretIDFile: sidFile}}, discard).Login(context.Background())
	if err == nil || !strings.HasPrefix(err.Error(), "vault login (approle at auth/approle-bad): ") ||
		!strings.Contains(err.Error(), "invalid role or secret ID") || fault.Transient(err) {
		t.Fatalf("want a permanent login error naming approle and Vault's reason, got %v", err)
	}
}

// TestSecretFilesMode: a secret id file group or others can read or
// change is refused, naming the file and its mode; a token file is refused
// when others can read it or anyone else can change it, and only warned
// about when its group can read it (Vault Agent's default).
func TestSecretFilesMode(t *testing.T) {
	needVault(t)
	roleID, sidFile := enableAppRole(t, "approle-mode", putPolicy(t), "1h", "2h")
	tokFile := filepath.Join(t.TempDir(), "token")
	writeFile(t, tokFile, testenv.RootToken, 0)
	tests := []struct {
		name   string
		file   string
		mode   os.FileMode
		opts   AuthOptions
		refuse bool
	}{
		{"secret id 0600", sidFile, 0o600, AuthOptions{VaultAuth: config.VaultAuth{Method: config.AuthAppRole, MountPath: "approle-mode", RoleID: roleID, SecretIDFile: sidFile}}, false},
		{"secret id 0400", sidFile, 0o400, AuthOptions{VaultAuth: config.VaultAuth{Method: config.AuthAppRole, MountPath: "approle-mode", RoleID: roleID, SecretIDFile: sidFile}}, false},
		{"secret id 0644", sidFile, 0o644, AuthOptions{VaultAuth: config.VaultAuth{Method: config.AuthAppRole, MountPath: "approle-mode", RoleID: roleID, SecretIDFile: sidFile}}, true},
		{"secret id 0640, own group", sidFile, 0o640, AuthOptions{VaultAuth: config.VaultAuth{Method: config.AuthAppRole, MountPath: "approle-mode", RoleID: roleID, SecretIDFile: sidFile}}, false},
		{"secret id 0620", sidFile, 0o620, AuthOptions{VaultAuth: config.VaultAuth{Method: config.AuthAppRole, MountPath: "approle-mode", RoleID: roleID, SecretIDFile: sidFile}}, true},
		{"token 0600", tokFile, 0o600, AuthOptions{VaultAuth: config.VaultAuth{Method: config.AuthToken, TokenFile: tokFile}}, false},
		{"token 0640, own group", tokFile, 0o640, AuthOptions{VaultAuth: config.VaultAuth{Method: config.AuthToken, TokenFile: tokFile}}, false},
		{"token 0644", tokFile, 0o644, AuthOptions{VaultAuth: config.VaultAuth{Method: config.AuthToken, TokenFile: tokFile}}, true},
		{"token 0660", tokFile, 0o660, AuthOptions{VaultAuth: config.VaultAuth{Method: config.AuthToken, TokenFile: tokFile}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.Chmod(tt.file, tt.mode); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			a := NewAuth(client(t, ""), tt.opts, slog.New(slog.NewTextHandler(&logs, nil)))
			err := a.Login(context.Background())
			if !tt.refuse {
				if err != nil {
					t.Fatalf("mode %#o refused: %v", tt.mode, err)
				}
				return
			}
			var se *sinks.Error
			if !errors.As(err, &se) || se.Transient || !strings.Contains(err.Error(), tt.file) || !strings.Contains(err.Error(), "mode 0"+octal(tt.mode)) {
				t.Fatalf("mode %#o: want a permanent refusal naming the file and mode, got %v", tt.mode, err)
			}
		})
	}
}

func octal(m os.FileMode) string {
	const digits = "01234567"
	return string([]byte{digits[m>>6&7], digits[m>>3&7], digits[m&7]})
}

// TestInvalidTokenLoggedOnce: with a revoked token that cannot be
// replaced (VAULT_TOKEN), many requests from many jobs log the condition
// once and count it every time; a new token logs the recovery once.
func TestInvalidTokenLoggedOnce(t *testing.T) {
	needVault(t)
	tok, err := dev.Client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"root"}})
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "token")
	writeFile(t, f, tok.Auth.ClientToken, 0)
	var logs lockedBuffer
	c := client(t, "")
	a := NewAuth(c, AuthOptions{VaultAuth: config.VaultAuth{Method: config.AuthToken, TokenFile: f}}, slog.New(slog.NewTextHandler(&logs, nil)))
	var mu sync.Mutex
	events := map[string]int{}
	a.OnToken = func(e string) { mu.Lock(); events[e]++; mu.Unlock() }
	ctx := context.Background()
	if err := a.Login(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, c, Options{Mount: "secret", KVVersion: 2, Auth: a})
	if err != nil {
		t.Fatal(err)
	}
	if err := dev.Client.Auth().Token().RevokeTree(tok.Auth.ClientToken); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if _, err := s.Read(ctx, uniquePath()); !isForbidden(err) {
					t.Errorf("want 403 with a revoked token, got %v", err)
				}
			}
		}()
	}
	wg.Wait()
	if n := strings.Count(logs.String(), "no longer valid"); n != 1 {
		t.Errorf("invalid token logged %d times, want 1:\n%s", n, logs.String())
	}
	if n := strings.Count(logs.String(), "vault login failed"); n != 1 {
		t.Errorf("failed replacement logged %d times, want 1:\n%s", n, logs.String())
	}
	mu.Lock()
	if events["invalid"] != 15 {
		t.Errorf("%d invalid events counted for 15 requests", events["invalid"])
	}
	mu.Unlock()
	writeFile(t, f, testenv.RootToken, time.Second)
	// Reads fail until the pause between attempts is over (1 s, or more
	// if the reads above took that long); then the first one that asks
	// takes the new token_file.
	deadline := time.Now().Add(time.Minute)
	for _, err := s.Read(ctx, uniquePath()); err != nil; _, err = s.Read(ctx, uniquePath()) {
		if !isForbidden(err) || time.Now().After(deadline) {
			t.Fatalf("read with the new token_file: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not synchronisation
	}
	if n := strings.Count(logs.String(), "valid again"); n != 1 {
		t.Errorf("recovery logged %d times, want 1:\n%s", n, logs.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if events["recovered"] != 1 {
		t.Errorf("%d recovered events, want 1", events["recovered"])
	}
}

// lockedBuffer is a bytes.Buffer safe for concurrent loggers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

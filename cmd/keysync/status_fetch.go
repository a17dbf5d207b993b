package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/keysync/keysync/internal/server"
)

// statusClient carries the bearer token straight to the daemon: never
// through an HTTP_PROXY, never on to where a redirect points.
var statusClient = &http.Client{
	Transport: &http.Transport{Proxy: nil},
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// maxStatusBody bounds the daemon's answer (10,000 accounts are ~5 MB).
const maxStatusBody = 64 << 20

// fetchStatus asks the daemon; on error it also returns the exit code:
// exitUnreachable when no answer came, exitFailed for a refusal.
func fetchStatus(o statusOptions, tok []byte) (server.StatusReply, int, error) {
	var reply server.StatusReply
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+o.addr+"/status", nil)
	if err != nil {
		return reply, exitUsage, err
	}
	if tok != nil {
		req.Header.Set("Authorization", "Bearer "+string(tok))
	}
	resp, err := statusClient.Do(req)
	if err != nil {
		return reply, exitUnreachable, fmt.Errorf("cannot reach the daemon at %s: %w", o.addr, err)
	}
	defer resp.Body.Close()
	body := io.LimitReader(resp.Body, maxStatusBody)
	if resp.StatusCode != http.StatusOK {
		return reply, exitFailed, fmt.Errorf("the daemon at %s answered %s%s", o.addr, resp.Status, refusalHint(resp.StatusCode, tok != nil))
	}
	if err := json.NewDecoder(body).Decode(&reply); err != nil {
		return reply, exitFailed, fmt.Errorf("reading the daemon's answer: %w", err)
	}
	return reply, exitOK, nil
}

func refusalHint(status int, withToken bool) string {
	switch {
	case status == http.StatusNotFound:
		return ": GET /status is off (the daemon has no [api] token_file)"
	case status == http.StatusUnauthorized && !withToken:
		return ": pass --token-file"
	case status == http.StatusUnauthorized:
		return ": the token does not match the daemon's"
	}
	return ""
}

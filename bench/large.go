package main

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// large is what the million-account case measures beside daemonRSS: when
// discovery ended, what a full scrape of /metrics and a GET /status cost,
// and the scheduler's turns.
type large struct {
	discWall, discCPU time.Duration // from start to the first discovery run counted
	pages             int           // Resource Graph requests by then
	// scrape, scrapeGz: a full GET /metrics as it is, and as Prometheus
	// asks for it (gzip); the bytes on the wire and what they unpack to.
	scrape, scrapeGz fetched
	status           fetched
	turns            int
	turnMean         time.Duration
	turnP99, turnMax float64 // upper bounds of the buckets (seconds); +Inf above the last
}

// fetched is one GET: how long to the last byte, the bytes it sent and
// the bytes they unpack to.
type fetched struct {
	took        time.Duration
	wire, plain int64
	code        int
}

// benchToken is the bench's [api] token, so that GET /status answers.
const benchToken = "bench-api-token-0123456789abcdef" //nolint:gosec // G101: a token the benchmark gives its own daemon on loopback

// appendAPI writes the token file and adds an [api] table to the config
// at cfgPath.
func (e *env) appendAPI(cfgPath string) error {
	path := filepath.Join(e.dir, "api-token")
	if err := os.WriteFile(path, []byte(benchToken+"\n"), 0o600); err != nil {
		return err
	}
	f, err := os.OpenFile(cfgPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "\n[api]\ntoken_file = %q\n", path)
	return errors.Join(err, f.Close())
}

// waitDiscovery polls keysync_discovery_runs_total until a run is
// counted and returns the time since start and the daemon's CPU then.
func waitDiscovery(ctx context.Context, pid int, addr string, start time.Time) (time.Duration, time.Duration, error) {
	for {
		n := 0.0
		err := scrapeURL(ctx, "http://"+addr+"/metrics?name[]=keysync_discovery_runs_total", func(name string, v float64) {
			if strings.HasPrefix(name, "keysync_discovery_runs_total") {
				n += v
			}
		})
		if err == nil && n > 0 {
			wall := time.Since(start)
			cpu, err := procCPU(pid)
			return wall, cpu, err
		}
		select {
		case <-ctx.Done():
			return 0, 0, fmt.Errorf("no discovery run counted: %w", ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// measureLarge scrapes /metrics whole (plain and gzip), reads /status
// and the turn histogram of the daemon at addr.
func measureLarge(ctx context.Context, addr string, l *large) error {
	var err error
	if l.scrape, err = get(ctx, "http://"+addr+"/metrics", ""); err != nil {
		return err
	}
	if l.scrapeGz, err = get(ctx, "http://"+addr+"/metrics", "gzip"); err != nil {
		return err
	}
	if l.status, err = get(ctx, "http://"+addr+"/status", ""); err != nil {
		return err
	}
	return turnStats(ctx, addr, l)
}

// get fetches url to its end, with Accept-Encoding enc when not empty,
// and the bench's API token.
func get(ctx context.Context, url, enc string) (fetched, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fetched{}, err
	}
	req.Header.Set("Authorization", "Bearer "+benchToken)
	if enc != "" {
		req.Header.Set("Accept-Encoding", enc) // set by hand: the transport then leaves the body packed
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fetched{}, err
	}
	defer resp.Body.Close()
	cw := &countingReader{r: resp.Body}
	var body io.Reader = cw
	if resp.Header.Get("Content-Encoding") == "gzip" {
		if body, err = gzip.NewReader(cw); err != nil {
			return fetched{}, err
		}
	}
	plain, err := io.Copy(io.Discard, io.LimitReader(body, maxFetch))
	return fetched{took: time.Since(start), wire: cw.n, plain: plain, code: resp.StatusCode}, err
}

// maxFetch bounds what get reads of one answer: far above a million
// accounts' /metrics or /status.
const maxFetch = 4 << 30

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// turnStats reads keysync_scheduler_turn_seconds: the count, the mean,
// and the bucket bounds below which 99 % and all of the turns fell.
func turnStats(ctx context.Context, addr string, l *large) error {
	var les, counts []float64
	var sum, count float64
	err := scrapeURL(ctx, "http://"+addr+"/metrics?name[]=keysync_scheduler_turn_seconds", func(name string, v float64) {
		switch {
		case strings.HasPrefix(name, "keysync_scheduler_turn_seconds_bucket{le=\""):
			le, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimPrefix(name, "keysync_scheduler_turn_seconds_bucket{le=\""), "\"}"), 64)
			if err == nil {
				les, counts = append(les, le), append(counts, v)
			}
		case name == "keysync_scheduler_turn_seconds_sum":
			sum = v
		case name == "keysync_scheduler_turn_seconds_count":
			count = v
		}
	})
	if err != nil || count == 0 {
		return err
	}
	l.turns, l.turnMean = int(count), time.Duration(sum/count*float64(time.Second))
	l.turnP99, l.turnMax = math.Inf(1), math.Inf(1)
	for i := len(les) - 1; i >= 0; i-- {
		if counts[i] >= 0.99*count {
			l.turnP99 = les[i]
		}
		if counts[i] >= count {
			l.turnMax = les[i]
		}
	}
	return nil
}

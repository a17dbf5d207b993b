package main

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Resource Graph's quota in the emulator, as in Azure: 15 queries per
// caller in each 5 s window (armemu's default).
const (
	graphQuota  = 15
	graphWindow = 5 * time.Second
)

// quotaFloor is the least time pages Resource Graph queries take under
// the quota: the first window's 15 go at once, each further 15 wait for
// the next window.
func quotaFloor(pages int) time.Duration {
	if pages <= 0 {
		return 0
	}
	return time.Duration(math.Ceil(float64(pages)/graphQuota)-1) * graphWindow
}

// runEstate runs a case on the tagged estate.
func (e *env) runEstate(c benchCase) (caseResult, error) {
	r := caseResult{c: c}
	if err := e.grow(c.subs, c.accounts); err != nil {
		return r, err
	}
	e.emu.SetLatency(c.latency)
	defer e.emu.SetLatency(0)
	defer e.emu.SetThrottle(nil)
	dir := fmt.Sprintf("c%d", caseSeq)
	switch {
	case c.probe:
		return e.runProbe(r, dir)
	case c.daemon:
		cfg, err := e.discoverConfig(c, c.accounts, dir)
		if c.listed {
			cfg, err = e.listedConfig(c, c.accounts, dir)
		}
		if err != nil {
			return r, err
		}
		e.fresh(c)
		r.daemon, err = e.runDaemon(c, cfg)
		return r, err
	}
	return e.runSideBySide(r, dir)
}

// fresh gives the next run a full ARM bucket and Resource Graph quota.
func (e *env) fresh(c benchCase) {
	e.emu.SetThrottle(c.bucket)
	e.emu.SetGraphQuota(0, 0)
}

// runSideBySide runs keysync --run-now twice on the [[discover]] config
// (the first cycle creates every secret, the second finds them unchanged)
// and twice on the listed one, alternating.
func (e *env) runSideBySide(r caseResult, dir string) (caseResult, error) {
	c := r.c
	disc, err := e.discoverConfig(c, c.accounts, dir+"d")
	if err != nil {
		return r, err
	}
	listed, err := e.listedConfig(c, c.accounts, dir+"l")
	if err != nil {
		return r, err
	}
	runs := []struct {
		cfg string
		m   *measurement
	}{{disc, &r.keysync}, {listed, &r.naive}, {disc, &r.ksSteady}, {listed, &r.naiveSteady}}
	for _, run := range runs {
		e.fresh(c)
		if *run.m, err = e.measure(e.keysync, "--config", run.cfg, "--run-now", "--log-level", "error"); err != nil {
			return r, err
		}
	}
	for _, m := range []measurement{r.keysync, r.ksSteady} {
		if err := foundAll(m, c.accounts); err != nil {
			return r, err
		}
	}
	return r, nil
}

// runProbe measures discovery alone: keysync --run-now on the [[discover]]
// config, ended the moment it prints what discovery found (before any
// account syncs), so CPU and VmHWM are discovery's and start-up's. A
// control run whose block finds nothing measures start-up, one query and
// the subscription listing; the difference is the discovery of N
// accounts. Beside it, `keysync --validate` of the same N accounts listed
// is what today's config costs to load.
func (e *env) runProbe(r caseResult, dir string) (caseResult, error) {
	c := r.c
	control, err := e.discoverConfig(c, 0, dir+"z")
	if err != nil {
		return r, err
	}
	disc, err := e.discoverConfig(c, c.accounts, dir+"d")
	if err != nil {
		return r, err
	}
	listed, err := e.listedConfig(c, c.accounts, dir+"l")
	if err != nil {
		return r, err
	}
	e.fresh(c)
	if r.control, err = e.measureRun(runOpts{stopAtDiscovery: true}, e.keysync, "--config", control, "--run-now", "--log-level", "error"); err != nil {
		return r, err
	}
	e.fresh(c)
	if r.keysync, err = e.measureRun(runOpts{stopAtDiscovery: true}, e.keysync, "--config", disc, "--run-now", "--log-level", "error"); err != nil {
		return r, err
	}
	if err := foundAll(r.keysync, c.accounts); err != nil {
		return r, err
	}
	r.validate, err = e.measureRun(runOpts{refusal: true}, e.keysync, "--config", listed, "--validate")
	return r, err
}

// foundAll checks a run's discovery line: every account found.
func foundAll(m measurement, n int) error {
	if want := fmt.Sprintf("discovery: %d accounts,", n); !strings.HasPrefix(m.disc.line, want) {
		return fmt.Errorf("discovery printed %q, want a line starting %q", m.disc.line, want)
	}
	return nil
}

// slope is the least-squares slope of y against x, and the intercept.
func slope(x, y []float64) (b, a float64) {
	n := float64(len(x))
	var sx, sy, sxx, sxy float64
	for i := range x {
		sx, sy, sxx, sxy = sx+x[i], sy+y[i], sxx+x[i]*x[i], sxy+x[i]*y[i]
	}
	d := n*sxx - sx*sx
	if len(x) < 2 || d == 0 {
		return math.NaN(), math.NaN()
	}
	b = (n*sxy - sx*sy) / d
	return b, (sy - b*sx) / n
}

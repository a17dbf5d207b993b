package main

import (
	"runtime/debug"
	"testing"
)

// TestStartingUpRestoresTheTarget: start-up runs at startGCPercent unless
// GOGC said less or off, and the run goes back to what GOGC said.
func TestStartingUpRestoresTheTarget(t *testing.T) {
	orig := debug.SetGCPercent(100)
	defer debug.SetGCPercent(orig)
	tests := []struct {
		name                  string
		gogc, during, afterGC int
	}{
		{name: "default", gogc: 100, during: startGCPercent, afterGC: 100},
		{name: "GOGC=200", gogc: 200, during: startGCPercent, afterGC: 200},
		{name: "GOGC lower than start-up's", gogc: 10, during: 10, afterGC: 10},
		{name: "GOGC=off", gogc: -1, during: -1, afterGC: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			debug.SetGCPercent(tt.gogc)
			started := startingUp()
			if got := debug.SetGCPercent(tt.during); got != tt.during {
				t.Errorf("during start-up: GC percent %d, want %d", got, tt.during)
			}
			started()
			if got := debug.SetGCPercent(tt.afterGC); got != tt.afterGC {
				t.Errorf("after start-up: GC percent %d, want %d", got, tt.afterGC)
			}
		})
	}
}

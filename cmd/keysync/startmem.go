package main

import "runtime/debug"

// startGCPercent is the collector's target while keysync starts. Decoding
// the config and copying its accounts into jobs, and the daemon's first
// discovery deciding on its whole answer, make garbage several times what
// the run keeps; at Go's default of 100 the heap grows to twice the
// largest start-up set, and resident memory keeps that size long after
// (issue #25: at 10,000 listed accounts start-up alone took a one-shot
// run to 36 MiB, whose sync then held 29; at 100,000 discovered ones the
// daemon peaked at 245 MiB, twice its steady 109, with 40 MB live).
const startGCPercent = 25

// startingUp lowers the collector's target for start-up, unless GOGC
// switched the collector off or already set it lower. The returned func
// restores the target and hands what start-up freed back to the OS, so
// that the run begins from what it holds; call it once the jobs are made.
func startingUp() (started func()) {
	old := debug.SetGCPercent(startGCPercent)
	if old < 0 || old < startGCPercent {
		debug.SetGCPercent(old)
	}
	return func() {
		debug.SetGCPercent(old)
		debug.FreeOSMemory()
	}
}

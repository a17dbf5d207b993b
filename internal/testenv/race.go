//go:build race

package testenv

// raceEnabled is true when the tests run with -race, so that the keysync
// binary they build is race-checked too.
const raceEnabled = true

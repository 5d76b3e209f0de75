//go:build race

package netconn_test

// raceOn reports that the race detector is on: its 2-20x slowdown makes
// wall-clock-bounded tests run smaller.
const raceOn = true

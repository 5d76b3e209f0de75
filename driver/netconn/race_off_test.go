//go:build !race

package netconn_test

// raceOn reports that the race detector is on (race_on_test.go).
const raceOn = false

// Package props holds netspec's gopter property suites (its tests): sequence
// arithmetic near 2^32, header and option round-trips, incremental checksums,
// RTO estimator laws, and stateful gopter/commands tests that drive two
// stacks over the fuzz/sim simulator. Reassembly independent of fragment
// order is a property of fsm/ip (fsm/ip/reasm_prop_test.go) and is not
// repeated here. docs/verification.md describes how to run them deeper.
package props

// Package stackfuzz holds the cross-package fuzz targets of netspec (issue 3,
// item 6): FuzzConnProgram runs the TCP step function under an operation
// program decoded from the fuzz input, FuzzStackFrames injects frames into a
// whole stack.Stack interleaved with timers and user calls, and
// FuzzDiffGopacket compares fsm/wire's parsers with gopacket's decoders.
// Their seed corpora under testdata/fuzz are generated systematically (state
// x header field x boundary value) by seeds_test.go; regenerate them with
// `go test ./fuzz/stackfuzz -run TestSeedCorpus -genseeds`.
package stackfuzz

// Package fsm is netspec's pure protocol core. It reads no clock, opens no
// socket, starts no goroutine and uses no global random source: time arrives as
// a parameter and randomness from a seeded generator, so every test, property
// and model check replays exactly.
//
// The layers, in the order a received frame meets them:
//
//   - wire: zero-copy views and builders of Ethernet, ARP, IPv4, ICMP, UDP and
//     TCP, and the Internet checksum.
//   - link: Ethernet dispatch by destination MAC and EtherType; ARP.
//   - ip: the IPv4 receive pipeline and the fragment-reassembly machine, both
//     tables generated from spec/ipv4.fsm and spec/frag.fsm.
//   - tcp: the RFC 9293 connection machine, a table generated from spec/tcp.fsm,
//     with hand-written guards and actions; seqnum holds its modular arithmetic.
//   - sock: readiness bits and errors of the user calls.
//   - stack: ties them together behind Input, Poll, Output and the user calls.
//   - fsmrt: the runtime the generated tables share (rule rows, matching,
//     trace format); each z*_gen.go file names it through type aliases.
//
// A test in this package enforces the purity rules on every file below fsm/
// (no real clock, no global random source); arch_test.go at the module root
// checks that fsm imports nothing but fsm and pure standard packages.
package fsm

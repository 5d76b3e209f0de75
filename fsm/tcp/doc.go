// Package tcp is the TCP connection machine (RFC 9293): demultiplexing,
// listeners and accept queues, the per-connection control block, segment
// processing, output with segmentation, retransmission (RFC 6298) and the
// TIME-WAIT, FIN-WAIT-2 and persist timers.
//
// What each state does with each event is not written here: it is the table
// in ztcp_gen.go, generated from spec/tcp.fsm. This package supplies the named
// guards (guards.go) and actions (actions.go) that the table refers to, and the
// driver that feeds it events (input.go). SEGMENT ARRIVES (§3.10.7) runs as a
// pipeline of events, one per step of the RFC text.
//
// The package is pure: time is a parameter, randomness an injected source,
// and nothing here blocks, locks or starts a goroutine. Timers are deadlines
// stored in each connection; Poll fires the due ones and NextDeadline reports
// the earliest (by a linear scan for now).
package tcp

//go:generate go run ../../cmd/fsmgen -in ../../spec/tcp.fsm -out ztcp_gen.go -dot ../../docs/diagrams/tcp.dot

// Package netspec runs a user-space TCP/IP stack in a Go program and hands
// out net.Listener, net.Conn and net.PacketConn values, so code written for
// package net (net/http, io.Copy, TLS) runs on it unchanged:
//
//	st, err := netspec.Open("eth1", netip.MustParsePrefix("198.18.0.2/24"), nil)
//	ln, err := st.Listen("tcp", ":80")
//	http.Serve(ln, handler)
//	c, err := st.Dial(ctx, "tcp", "198.18.0.1:8080")
//	pc, err := st.ListenPacket("udp", ":7")
//	st.Close()
//
// Open runs on a network interface through an AF_PACKET socket or a TAP
// device (root needed); New runs on any driver.Link; Pipe joins two stacks by
// an in-memory link with seeded faults, for tests and simulations that need
// no privileges. Options choose the MAC, gateway, TCP profile, ECN, TTL and
// seed, and record a pcap capture or a linearizability history.
//
// # Layers
//
// This package is the front door; the rooms behind it, top to bottom:
//
//   - driver/netconn: the blocking net.Listener / net.Conn / net.PacketConn,
//     with deadlines, over the stack's non-blocking socket calls.
//   - driver: the event loop (driver.Loop), one goroutine per stack that
//     reads frame batches from the link, runs the stack's timers and
//     serialises the socket calls; and the links: driver/afpacket,
//     driver/tap, driver/pipe, with driver/pcap capturing any of them.
//   - fsm/stack: the protocol core as one plain value with no clock,
//     goroutine or OS call: Ethernet and ARP (fsm/link), IPv4 (fsm/ip), TCP
//     (fsm/tcp), UDP (fsm/udp). Its state machines are tables generated from
//     spec/*.fsm, each row citing its RFC clause.
//
// Counters returns the stack's named counters (every drop has a reason);
// Stats the loop's. docs/architecture.md describes the whole layout.
package netspec

// Package scenario runs packetdrill-style scripts against the TCP layer in
// process, on a virtual clock.
//
// A script is a list of timed events in a subset of packetdrill's grammar
// (google/packetdrill syntax.md):
//
//	// covers: MUST-13 SHLD-3        requirement IDs the script pins
//	// known-bug: text              optional: the script fails until a bug is fixed
//	--rcvbuf=4096                    layer options (run.go: rcvbuf, syn_backlog, user_timeout_ms, profile, ...)
//	0     socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
//	+0    bind(3, ..., ...) = 0
//	+0    listen(3, 1) = 0
//	+0    < S 0:0(0) win 65535 <mss 1460,wscale 7>
//	+0    > S. 0:0(0) ack 1 <mss 1460,wscale 3>
//	+0.1  < . 1:1(0) ack 1 win 257
//	+0    accept(3, ..., ...) = 4
//	+0    %{ assert tcpi_state == TCP_ESTABLISHED }%
//
// Times are absolute seconds ("0.1"), relative to the previous event ("+0.1")
// or, for outbound segments only, "*" (whenever it comes). "<" injects a
// segment from the peer; ">" expects the next segment the stack sends, matched
// on flags (S F R P U E W and "." for ACK), seq:end(len), the ACK number when
// the ACK flag is expected, "win" and "urg" when given, and the options
// exactly unless written "<...>" (our TSval is not compared; an inbound
// non-zero TSecr is replaced by our last TSval, as packetdrill does). Sequence numbers are relative, as packetdrill
// writes them: inbound SEQ and outbound ACK to the peer's ISN (Options.PeerISN),
// outbound SEQ and inbound ACK to our ISN, learned from each SYN we send (a new connection has a new ISS).
// Socket calls are socket, bind, listen, accept, connect (non-blocking: "= -1
// EINPROGRESS"), write, read, shutdown, close, setsockopt (SO_LINGER
// {onoff=1, linger=0} makes close an ABORT; others are accepted and ignored)
// and fcntl (ignored: every socket is non-blocking). An extension,
// "peer_port(40001) = 0", makes the scripted peer a second client: later
// segments use that source port and the connection under test is the one on
// it (listen-queue and SYN-cookie scripts need several peers). "%{ assert tcpi_state ==
// TCP_TIME_WAIT }%" checks the state of the connection under test and "%{
// assert drops.OutOfWindow == 1 }%" a drop counter of the TCP layer.
//
// The runner fails at the first line the stack does not follow, printing the
// script line and, for segments, the expected and actual segment and the
// fields that differ. Any segment the stack sends that the script does not
// expect before the next inbound segment, call or assertion (or the end) is a
// failure too, as in packetdrill. After every event it checks the runtime
// invariants SND.UNA <= SND.NXT, RCV.NXT never moves back and the receive
// window's right edge never moves left.
//
// LoadDir parses a directory of scripts and RuleHits runs them, returning
// how often each tcp.Rules row fired; fuzz/sim's MUST gate and make
// rule-coverage count those hits. The package's tests are gates over
// testdata/scenarios: TestEveryRowFires (every spec row the pipeline can
// reach fires in some script, except the rows fuzz/cover.TCPAllow explains),
// TestProfileRows (each profile-specific row fires in a script of its
// profile) and TestScriptsUnderRFC9293 (a script that pins no profile passes
// under both, except the listed linux-only ones).
package scenario

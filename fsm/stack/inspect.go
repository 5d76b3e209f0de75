package stack

import (
	"github.com/netspec/netspec/fsm/ip"
	"github.com/netspec/netspec/fsm/link"
	"github.com/netspec/netspec/fsm/tcp"
)

// TCP returns the stack's TCP layer, for verification tools (invariant
// checks, rule coverage, connection inspection). Callers must not call into
// it concurrently with the stack, and should treat it as read-only.
func (s *Stack) TCP() *tcp.Layer { return s.tcp }

// IPReceiver returns the stack's IPv4 receive pipeline, for verification
// tools (rule traces via SetTrace, reassembly bounds).
func (s *Stack) IPReceiver() *ip.Receiver { return s.ipRx }

// ARP returns the stack's neighbour cache, for verification tools (whether a
// frame may be waiting for resolution). Treat it as read-only.
func (s *Stack) ARP() *link.ARP { return s.port.ARP() }

// IPSender returns the stack's IPv4 send side, for verification tools (its
// counters, next hops). Treat it as read-only.
func (s *Stack) IPSender() *ip.Sender { return s.ipTx }

// ICMP returns the stack's ICMP, for verification tools (its counters).
// Treat it as read-only.
func (s *Stack) ICMP() *ip.ICMP { return s.icmp }

// Port returns the stack's Ethernet port (frames in and out, ARP), for
// verification tools (its counters, output queue). Treat it as read-only.
func (s *Stack) Port() *link.Port { return s.port }

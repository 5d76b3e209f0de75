package sim

import (
	"fmt"
	"time"

	"github.com/netspec/netspec/fsm/seqnum"
	"github.com/netspec/netspec/fsm/tcp"
	"github.com/netspec/netspec/fsm/wire"
)

// MaxAckDelay is the longest an ACK may be owed: RFC 9293 §3.8.6.3 (MUST-40)
// says a delayed ACK is held less than 0.5 s.
const MaxAckDelay = 500 * time.Millisecond

// flowKey names one direction of a TCP connection as it leaves a stack.
type flowKey struct {
	src, dst     wire.Addr
	sport, dport uint16
}

// flowState is what the wire checker remembers of one direction.
type flowState struct {
	hasAck    bool
	ack       seqnum.Value // latest ACK number sent
	hasFin    bool
	finSeq    seqnum.Value // the sequence number our FIN occupies
	owedSince time.Time    // RCV.NXT ran ahead of the last ACK sent at this time
}

// wireChecker checks what the stacks emit, frame by frame.
type wireChecker struct {
	flows map[flowKey]*flowState
}

func (w *wireChecker) init() { w.flows = make(map[flowKey]*flowState) }

func (w *wireChecker) flow(k flowKey) *flowState {
	f := w.flows[k]
	if f == nil {
		f = &flowState{}
		w.flows[k] = f
	}
	return f
}

// violation formats a wire-level invariant failure.
func violation(h *Host, format string, args ...any) error {
	return fmt.Errorf("%w: host %d sent %s", tcp.ErrInvariant, h.Index, fmt.Sprintf(format, args...))
}

// frame checks one frame host h emitted: IPv4 and TCP/ICMP checksums valid
// (RFC 791 §3.1, RFC 9293 §3.1 MUST-2), MSS and window scale options only on
// SYN (MUST-65, RFC 7323 §2.2), ACK on every segment but the first SYN and
// RST (RFC 9293 §3.10.7), at most one FIN sequence number per connection,
// and, when rst names the flow of a RST the host just received, nothing but a
// challenge ACK in reply (RFC 9293 §3.10.7.4 step 2, RFC 5961 §3.2).
func (w *wireChecker) frame(h *Host, frame []byte, rst *flowKey, now time.Time) error {
	eth, err := wire.ParseEthernet(frame)
	if err != nil {
		return violation(h, "an unparsable Ethernet frame: %v", err)
	}
	if eth.Type() != wire.EtherTypeIPv4 {
		return nil
	}
	ip, err := wire.ParseIPv4(eth.Payload())
	if err != nil {
		return violation(h, "a malformed IPv4 header")
	}
	if !ip.HeaderChecksumValid() {
		return violation(h, "an IPv4 header with a bad checksum")
	}
	if err := ip.Validate(); err != nil {
		return violation(h, "a malformed IPv4 header: %v", err)
	}
	if ip.IsFragment() {
		return nil
	}
	switch ip.Protocol() {
	case wire.ProtoICMP:
		if wire.Checksum(ip.Payload(), 0) != 0 {
			return violation(h, "an ICMP message with a bad checksum")
		}
		return nil
	case wire.ProtoTCP:
	default:
		return nil
	}
	seg := ip.Payload()
	t, err := wire.ParseTCP(seg)
	if err != nil {
		return violation(h, "a malformed TCP header: %v", err)
	}
	if !wire.TCPChecksumValid(seg, ip.Src(), ip.Dst()) {
		return violation(h, "a TCP segment with a bad checksum (MUST-2)")
	}
	fl := t.Flags()
	var opts wire.TCPOptions
	if err := wire.ParseTCPOptions(t.Options(), &opts); err != nil {
		return violation(h, "unparsable TCP options: %v", err)
	}
	syn := fl&wire.FlagSYN != 0
	if !syn && opts.HasMSS {
		return violation(h, "an MSS option on a segment without SYN (MUST-65)")
	}
	if !syn && opts.HasWScale {
		return violation(h, "a window scale option on a segment without SYN (RFC 7323 §2.2)")
	}
	if fl&(wire.FlagACK|wire.FlagRST|wire.FlagSYN) == 0 {
		return violation(h, "a segment without ACK, SYN or RST")
	}
	k := flowKey{ip.Src(), ip.Dst(), t.SrcPort(), t.DstPort()}
	if rst != nil && *rst == k {
		if fl&^wire.FlagPSH != wire.FlagACK || len(t.Payload()) != 0 {
			return violation(h, "<CTL=%v> with %d octets in reply to a RST; only a challenge ACK may answer one", fl, len(t.Payload()))
		}
	}
	if fl&wire.FlagRST != 0 {
		return nil
	}
	f := w.flow(k)
	if syn {
		*f = flowState{} // a new incarnation
	}
	if fl&wire.FlagFIN != 0 {
		fin := seqnum.Value(t.Seq()).Add(seqnum.Size(len(t.Payload())))
		if syn {
			fin++
		}
		if f.hasFin && fin != f.finSeq {
			return violation(h, "a FIN at %d after one at %d: two FIN sequence numbers", fin, f.finSeq)
		}
		f.hasFin, f.finSeq = true, fin
	}
	if fl&wire.FlagACK != 0 {
		a := seqnum.Value(t.Ack())
		if !f.hasAck || f.ack.LessThan(a) {
			f.ack = a
		}
		f.hasAck = true
	}
	return nil
}

// rstContext returns the reply flow of frame if it is a well-formed TCP
// segment with RST set (checksums valid), else nil.
func (w *wireChecker) rstContext(frame []byte) *flowKey {
	eth, err := wire.ParseEthernet(frame)
	if err != nil || eth.Type() != wire.EtherTypeIPv4 {
		return nil
	}
	ip, err := wire.ParseIPv4(eth.Payload())
	if err != nil || ip.Validate() != nil || !ip.HeaderChecksumValid() || ip.IsFragment() || ip.Protocol() != wire.ProtoTCP {
		return nil
	}
	t, err := wire.ParseTCP(ip.Payload())
	if err != nil || t.Flags()&wire.FlagRST == 0 || !wire.TCPChecksumValid(ip.Payload(), ip.Src(), ip.Dst()) {
		return nil
	}
	return &flowKey{ip.Dst(), ip.Src(), t.DstPort(), t.SrcPort()}
}

// delayedAcks checks MUST-40 on host h: for every connection past SYN-SENT,
// once RCV.NXT runs ahead of the last ACK number the host sent on that flow,
// an ACK for it follows in less than MaxAckDelay. MUST-40 bounds TCP, not
// address resolution: while the peer has no usable ARP entry, TCP's ACK may
// be waiting in the ARP queue (RFC 1122 §2.3.2.2), so the clock starts again
// once the neighbour resolves.
func (w *wireChecker) delayedAcks(h *Host, now time.Time) error {
	var err error
	h.Stack.TCP().EachConn(func(c *tcp.Conn) {
		if err != nil || c.State() == tcp.StateSynSent {
			return
		}
		la, lp, ra, rp := c.Endpoints()
		f := w.flow(flowKey{la, ra, lp, rp})
		nxt := c.TCB().RcvNxt
		if f.hasAck && !f.ack.LessThan(nxt) {
			f.owedSince = time.Time{}
			return
		}
		if _, ok := h.Stack.ARP().Lookup(ra); !ok {
			f.owedSince = time.Time{}
			return
		}
		if f.owedSince.IsZero() {
			f.owedSince = now
			return
		}
		if d := now.Sub(f.owedSince); d >= MaxAckDelay {
			err = violation(h, "no ACK for RCV.NXT %d on %v:%d->%v:%d for %v (MUST-40: under %v)", nxt, la, lp, ra, rp, d, MaxAckDelay)
		}
	})
	return err
}

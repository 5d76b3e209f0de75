package stackfuzz

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/netspec/netspec/fsm/seqnum"
	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fsm/tcp"
	"github.com/netspec/netspec/fsm/wire"
)

// The frame program of FuzzStackFrames: a setup byte (the stack's seed), then
// chunks, each an opcode and its operands:
//
//	frRaw     len(2) bytes: an arbitrary frame, as the driver delivers it
//	frIP      sel(1) len(2) bytes: an IPv4 datagram for us built around bytes
//	          (sel: bits 0-1 protocol TCP/UDP/ICMP/other, bit 2 MF, bit 3 a
//	          non-zero fragment offset, bit 4 leave the transport checksum
//	          as is, bit 5 offload metadata says "checksum valid")
//	frCall    call(1) arg(1): a user call (Listen, Dial, Send, Recv,
//	          CloseWrite, Close, Abort, Accept) on descriptor arg%8
//	frAdvance ms(2): advance the clock, running the timers due
//	frARP     op(1) ip(1): an ARP request or reply about 198.18.0.x
//	frSyn     flags(1) seq(4) ack(4) port(1): a TCP segment to port 80 or 81
//	frBatch   n(1): the next n%8+2 chunks that are frames arrive in one batch
//	          (BeginBatch..EndBatch, as one read from the link), so TCP may
//	          coalesce them; a call or an advance ends the batch early
//	frData    conn(1) sel(1) len(1): a segment of a live connection, its
//	          SEQ and ACK taken from the TCB (see batch_test.go)
const (
	frRaw = iota
	frIP
	frCall
	frAdvance
	frARP
	frSyn
	frBatch
	frData
	numFrameOps
)

var (
	macUs   = wire.MAC{2, 0, 0, 0, 0, 2}
	macPeer = wire.MAC{2, 0, 0, 0, 0, 1}
)

const (
	maxFrameSteps = 128
	maxFrameLen   = 1600
	maxOutFrames  = 256 // the stack's MaxOutput in the harness
)

type stackHarness struct {
	s     *stack.Stack
	start time.Time
	now   time.Time
	fds   [8]stack.FD
	open  [8]bool
	buf   []byte
	inv   *tcp.InvariantChecker
	batch batchState
	rcv   [8]recvTrack // what each descriptor's Recv should return
	// foreign: a frame not built by frData may have carried TCP text, so
	// received bytes need not follow frData's pattern.
	foreign bool
	fins    map[connKey]seqnum.Value // the first FIN frData sent in order to each connection
	err     error                    // a failed check inside a user call
}

func newStackHarness(seed byte) *stackHarness {
	h := &stackHarness{start: time.Unix(1_700_000_000, 0), fins: map[connKey]seqnum.Value{}, inv: tcp.NewInvariantChecker(), buf: make([]byte, 2048)}
	h.now = h.start
	h.s = stack.New(stack.Config{
		MAC: macUs, Addr: addrUs, PrefixLen: 24, Seed: uint64(seed),
		MaxFDs: 64, MaxOutput: maxOutFrames,
		TCP: tcp.Config{RecvBuf: 4096, SendBuf: 8192, MaxConns: 64, Backlog: 8},
	})
	return h
}

type reader struct {
	b []byte
	i int
}

func (r *reader) u8() byte {
	if r.i < len(r.b) {
		r.i++
		return r.b[r.i-1]
	}
	r.i++
	return 0
}

func (r *reader) u16() int { return int(r.u8())<<8 | int(r.u8()) }

func (r *reader) u32() uint32 { return uint32(r.u16())<<16 | uint32(r.u16()) }

func (r *reader) bytes(n int) []byte {
	if r.i >= len(r.b) {
		return nil
	}
	e := min(r.i+n, len(r.b))
	p := r.b[r.i:e]
	r.i = e
	return p
}

func (r *reader) done() bool { return r.i >= len(r.b) }

func (h *stackHarness) run(prog []byte) error {
	r := &reader{b: prog}
	for step := 0; !r.done() && step < maxFrameSteps; step++ {
		op := int(r.u8()) % numFrameOps
		if err := h.batchBefore(op); err != nil {
			return fmt.Errorf("step %d op %d: %w", step, op, err)
		}
		if err := h.do(op, r); err != nil {
			return fmt.Errorf("step %d op %d: %w", step, op, err)
		}
		if h.batchAfter(op) {
			continue // no call but Input within a batch
		}
		if err := h.check(); err != nil {
			return fmt.Errorf("step %d op %d: %w", step, op, err)
		}
	}
	return h.batchEnd()
}

func (h *stackHarness) eth(dst wire.MAC, t wire.EtherType, n int) []byte {
	b := h.frameBuf()[:wire.EthernetHeaderLen+n]
	wire.PutEthernet(b, dst, macPeer, t)
	return b
}

func (h *stackHarness) do(op int, r *reader) error {
	switch op {
	case frRaw:
		h.foreign = true
		n := min(r.u16(), maxFrameLen)
		h.s.Input(h.now, r.bytes(n), stack.RxMeta{Time: h.now})
	case frIP:
		sel := r.u8()
		h.foreign = h.foreign || sel&3 == 0
		data := r.bytes(min(r.u16(), maxFrameLen-60))
		h.ipFrame(sel, data)
	case frCall:
		h.call(r.u8(), r.u8())
	case frAdvance:
		return h.advance(h.now.Add(time.Duration(r.u16()) * time.Millisecond))
	case frARP:
		op, x := r.u8(), r.u8()
		b := h.eth(wire.BroadcastMAC, wire.EtherTypeARP, wire.ARPLen)
		code := wire.ARPRequest
		if op&1 != 0 {
			code = wire.ARPReply
		}
		wire.PutARP(b[wire.EthernetHeaderLen:], code, macPeer, wire.Addr{198, 18, 0, x}, wire.MAC{}, wire.Addr{198, 18, 0, op >> 1})
		h.s.Input(h.now, b, stack.RxMeta{Time: h.now})
	case frSyn:
		flags, seq, ack, port := wire.TCPFlags(r.u8()), r.u32(), r.u32(), r.u8()
		hdr := wire.TCPHeader{SrcPort: portPeer + uint16(port>>1), DstPort: 80 + uint16(port&1), Seq: seq, Ack: ack, Flags: flags, Window: 8192}
		hdr.Opts.MSS, hdr.Opts.HasMSS = 1000, flags&wire.FlagSYN != 0
		seg := make([]byte, hdr.Len())
		hdr.Put(seg)
		h.ipFrame(0, seg)
	case frBatch:
		h.beginBatch(r.u8())
	case frData:
		h.data(r.u8(), r.u8(), r.u8())
	}
	return nil
}

// ipFrame wraps data in IPv4 and Ethernet addressed to us, fixing the
// transport checksum unless sel says not to.
func (h *stackHarness) ipFrame(sel byte, data []byte) {
	protos := [4]uint8{wire.ProtoTCP, wire.ProtoUDP, wire.ProtoICMP, 253}
	proto := protos[sel&3]
	n := wire.IPv4MinHeaderLen + len(data)
	b := h.eth(macUs, wire.EtherTypeIPv4, n)
	ip := b[wire.EthernetHeaderLen:]
	hdr := wire.IPv4Header{TotalLen: n, ID: 1, TTL: 64, Protocol: proto, Src: addrPeer, Dst: addrUs, MoreFragments: sel&4 != 0}
	if sel&8 != 0 {
		hdr.FragOffset = 8 * int(sel>>6+1)
	}
	hdr.Put(ip)
	p := ip[wire.IPv4MinHeaderLen:]
	copy(p, data)
	if sel&16 == 0 && hdr.FragOffset == 0 && !hdr.MoreFragments {
		switch {
		case proto == wire.ProtoTCP && len(p) >= wire.TCPMinHeaderLen:
			wire.SetTCPChecksum(p, addrPeer, addrUs)
		case proto == wire.ProtoUDP && len(p) >= wire.UDPHeaderLen:
			binary.BigEndian.PutUint16(p[4:6], uint16(len(p)))
			wire.SetUDPChecksum(p, addrPeer, addrUs)
		case proto == wire.ProtoICMP && len(p) >= 4:
			wire.SetICMPChecksum(p)
		}
	}
	h.input(b, sel&32 != 0)
}

func (h *stackHarness) call(c, arg byte) {
	i := int(arg % 8)
	fd := h.fds[i]
	var err error
	switch c % 8 {
	case 0:
		if !h.open[i] {
			if fd, err = h.s.Listen(h.now, 80+uint16(arg>>7), int(arg>>3&7)); err == nil {
				h.fds[i], h.open[i], h.rcv[i] = fd, true, recvTrack{}
			}
		}
	case 1:
		if !h.open[i] {
			if fd, err = h.s.Dial(h.now, addrPeer, 40000+uint16(arg>>3)); err == nil {
				h.fds[i], h.open[i], h.rcv[i] = fd, true, recvTrack{}
			}
		}
	case 2:
		if h.open[i] {
			h.s.Send(h.now, fd, h.buf[:int(arg)*8])
		}
	case 3:
		if h.open[i] {
			n, err := h.s.Recv(h.now, fd, h.buf[:int(arg)*8])
			h.checkRecv(i, fd, h.buf[:n], err)
		}
	case 4:
		if h.open[i] {
			h.s.CloseWrite(h.now, fd)
		}
	case 5:
		if h.open[i] {
			h.s.Close(h.now, fd)
			h.open[i] = false
		}
	case 6:
		if h.open[i] {
			h.s.Abort(h.now, fd)
			h.open[i] = false
		}
	case 7:
		if h.open[i] {
			if nfd, err := h.s.Accept(h.now, fd); err == nil {
				j := (i + 1) % 8
				if h.open[j] {
					h.s.Close(h.now, h.fds[j])
				}
				h.fds[j], h.open[j], h.rcv[j] = nfd, true, recvTrack{}
			}
		}
	}
}

func (h *stackHarness) advance(t time.Time) error {
	for i := 0; ; i++ {
		if i == maxPolls {
			return fmt.Errorf("timer livelock: %d firings before %v", maxPolls, t.Sub(h.start))
		}
		d := h.s.NextDeadline()
		if d.IsZero() || d.After(t) {
			break
		}
		if d.After(h.now) {
			h.now = d
		}
		h.s.Poll(h.now)
		if err := h.check(); err != nil {
			return err
		}
	}
	if t.After(h.now) {
		h.now = t
	}
	return nil
}

var errMalformedOut = errors.New("malformed output frame")

// check drains the output and validates every frame; it also checks the
// stack's bounds and the TCP layer's invariants.
func (h *stackHarness) check() error {
	if p := h.s.Pending(); p > maxOutFrames {
		return fmt.Errorf("%d frames queued, bound %d", p, maxOutFrames)
	}
	if err := h.err; err != nil {
		return err
	}
	var err error
	h.s.Output(func(f []byte, meta stack.TxMeta) {
		if meta != (stack.TxMeta{}) && err == nil {
			err = fmt.Errorf("%w: metadata %+v with GSO off", errMalformedOut, meta)
		}
		if err == nil {
			if e := checkFrame(f); e != nil {
				err = fmt.Errorf("%w: %v", errMalformedOut, e)
			}
		}
	})
	if err != nil {
		return err
	}
	if err := h.checkChecksumDrops(); err != nil {
		return err
	}
	l := h.s.TCP()
	if n := l.Counters().Conns; n > 64 {
		return fmt.Errorf("%d connections, bound 64", n)
	}
	return h.inv.Check(h.now, l)
}

// checkFrame checks one frame the stack emitted: Ethernet from our MAC,
// ARP that parses, or IPv4 from our address with a valid header and a valid
// transport checksum for unfragmented TCP, UDP and ICMP.
func checkFrame(f []byte) error {
	e, err := wire.ParseEthernet(f)
	if err != nil {
		return err
	}
	if e.Src() != macUs {
		return fmt.Errorf("source MAC %v", e.Src())
	}
	switch e.Type() {
	case wire.EtherTypeARP:
		a, err := wire.ParseARP(e.Payload())
		if err != nil {
			return err
		}
		if a.SenderIP() != addrUs || a.SenderMAC() != macUs {
			return fmt.Errorf("ARP from %v/%v", a.SenderIP(), a.SenderMAC())
		}
		return nil
	case wire.EtherTypeIPv4:
	default:
		return fmt.Errorf("EtherType %v", e.Type())
	}
	ip, err := wire.ParseIPv4(e.Payload())
	if err != nil {
		return err
	}
	if err := ip.Validate(); err != nil {
		return err
	}
	if ip.Src() != addrUs || ip.TTL() == 0 {
		return fmt.Errorf("IPv4 from %v TTL %d", ip.Src(), ip.TTL())
	}
	if len(ip) > 1500 {
		return fmt.Errorf("IPv4 datagram of %d octets exceeds the MTU", len(ip))
	}
	if ip.IsFragment() {
		return nil
	}
	p := ip.Payload()
	switch ip.Protocol() {
	case wire.ProtoTCP:
		return checkSegment(p, ip.Src(), ip.Dst())
	case wire.ProtoUDP:
		if !wire.UDPChecksumValid(p, ip.Src(), ip.Dst()) {
			return fmt.Errorf("UDP checksum")
		}
	case wire.ProtoICMP:
		m, err := wire.ParseICMP(p)
		if err != nil {
			return err
		}
		if !m.ChecksumValid() {
			return fmt.Errorf("ICMP checksum")
		}
	}
	return nil
}

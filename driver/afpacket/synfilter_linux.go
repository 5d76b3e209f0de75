//go:build linux

package afpacket

import (
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/netspec/netspec/driver/fdlink"
	"github.com/netspec/netspec/fsm/stack"
)

// The SYN admission filter (docs/robustness.md, "SYN admission in the
// kernel"): a classic BPF program attached to the link's sockets
// (SO_ATTACH_FILTER) while the stack is under a SYN flood, so that the
// excess flood SYNs are dropped by the kernel in the flooder's own context,
// before the copy into the ring: they cost netspec nothing. The stack
// decides when and what (stack.SynFilter, fsm/stack synguard.go); this file
// only compiles and attaches it. The program passes, whole:
//
//   - every frame that is not IPv4 (skb->protocol: a VLAN tag the kernel
//     took off is no matter), not TCP, a fragment (MF or an offset: the
//     TCP header may be absent), too short to hold the IP header and 14
//     octets of TCP header, or with an IHL below 5: no load of the program
//     ever runs past the frame (a classic BPF load out of bounds drops);
//   - every TCP segment that is not a bare SYN (SYN without ACK and RST,
//     as fsm/stack's bareSYN) to one of the filter's ports;
//   - a bare SYN from one of the proven sources;
//   - of the other bare SYNs, a random share (SKF_AD_RANDOM below the
//     share out of 2^32): SynFilter.AdmitOnLink of those from the stack's
//     subnet, AdmitOffLink of the others (stack.AdmitAll: all of them),
//
// and drops the rest. Replacing a filter is atomic in the kernel (the old
// program is swapped for the new under RCU); with no filter nothing is
// attached at all. With the ring, both of a Link's sockets get it: the ring
// socket, so the frames are not copied, and the wake socket, so that they
// do not wake the reader (each socket draws its own random numbers, so a
// sampled SYN the ring took may not wake it: the reader's bounded sleep,
// ringMaxSleep, backs that up). In a fanout group each member's sockets get
// their own Link's filter, run after the group's program chose the member.
//
// The kernel counts nothing it filters (PACKET_STATISTICS counts only what
// passed the filter), so the drops are known to the stack only as an
// estimate: stack.Counters.TCPSynFilterDropEstimate.

// synPass is the program's return value for a frame it passes: more than
// any frame's length (the kernel keeps min(frame, value) octets).
const synPass = 0xffffffff

// maxSynFilter bounds the program: ports and proven sources beyond these
// are refused (stack.MaxSynFilterPorts, stack.MaxProven are below them).
const (
	maxSynFilterPorts  = 64
	maxSynFilterProven = 128
)

// synFilterProgram compiles f into classic BPF.
func synFilterProgram(f *stack.SynFilter) ([]unix.SockFilter, error) {
	if len(f.Ports) == 0 || len(f.Ports) > maxSynFilterPorts || len(f.Proven) > maxSynFilterProven {
		return nil, fmt.Errorf("syn filter: %d ports (want 1..%d), %d proven sources (want at most %d)",
			len(f.Ports), maxSynFilterPorts, len(f.Proven), maxSynFilterProven)
	}
	// Labels are resolved into skips once the program's length is known:
	// pass and drop are its last two instructions.
	type jump struct {
		at       int
		cond     bpf.JumpTest
		val      uint32
		toT, toF int  // targets: -1 the next instruction, else a label
		always   bool // an unconditional jump to toT
	}
	var p []bpf.Instruction
	var jumps []jump
	const passL, synL, dropL, offL = -2, -3, -4, -5 // labels: the pass return, the proven check, the drop return, the off-link share
	jmp := func(cond bpf.JumpTest, val uint32, t, f int) {
		jumps = append(jumps, jump{at: len(p), cond: cond, val: val, toT: t, toF: f})
		p = append(p, nil)
	}
	ld := func(ins bpf.Instruction) { p = append(p, ins) }
	const ethLen, ipMin, tcpFlagsEnd = 14, 20, 14
	ld(bpf.LoadExtension{Num: bpf.ExtProto})
	jmp(bpf.JumpEqual, 0x0800, -1, passL)
	ld(bpf.LoadExtension{Num: bpf.ExtLen})
	jmp(bpf.JumpGreaterOrEqual, ethLen+ipMin, -1, passL)
	ld(bpf.LoadAbsolute{Off: skfNet + 9, Size: 1}) // protocol
	jmp(bpf.JumpEqual, unix.IPPROTO_TCP, -1, passL)
	ld(bpf.LoadAbsolute{Off: skfNet + 6, Size: 2}) // flags, fragment offset
	jmp(bpf.JumpBitsSet, 0x3fff, passL, -1)        // MF or an offset
	ld(bpf.LoadMemShift{Off: skfNet})              // X = IHL*4
	ld(bpf.TXA{})
	jmp(bpf.JumpGreaterOrEqual, ipMin, -1, passL)
	ld(bpf.LoadExtension{Num: bpf.ExtLen})
	ld(bpf.ALUOpX{Op: bpf.ALUOpSub})
	jmp(bpf.JumpGreaterOrEqual, ethLen+tcpFlagsEnd, -1, passL)
	ld(bpf.LoadIndirect{Off: skfNet + 13, Size: 1}) // TCP flags
	ld(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: uint32(synMask)})
	jmp(bpf.JumpEqual, 0x02, -1, passL)
	ld(bpf.LoadIndirect{Off: skfNet + 2, Size: 2}) // destination port
	for i, port := range f.Ports {
		if i == len(f.Ports)-1 {
			jmp(bpf.JumpEqual, uint32(port), -1, passL)
		} else {
			jmp(bpf.JumpEqual, uint32(port), synL, -1)
		}
	}
	syn := len(p)
	ld(bpf.LoadAbsolute{Off: skfNet + 12, Size: 4}) // source address
	for _, a := range f.Proven {
		jmp(bpf.JumpEqual, binary.BigEndian.Uint32(a[:]), passL, -1)
	}
	// A is the source: on-link or off-link, each with its share.
	mask := uint32(0)
	if f.SubnetBits > 0 {
		mask = ^uint32(0) << (32 - min(f.SubnetBits, 32))
	}
	ld(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: mask})
	jmp(bpf.JumpEqual, binary.BigEndian.Uint32(f.Subnet[:])&mask, -1, offL)
	share := func(admit uint32) {
		switch admit {
		case stack.AdmitAll:
			ld(bpf.Jump{}) // resolved below: to pass
			jumps = append(jumps, jump{at: len(p) - 1, toT: passL, always: true})
		case 0:
			ld(bpf.Jump{})
			jumps = append(jumps, jump{at: len(p) - 1, toT: dropL, always: true})
		default:
			ld(bpf.LoadExtension{Num: bpf.ExtRand})
			jmp(bpf.JumpLessThan, admit, passL, dropL)
		}
	}
	share(f.AdmitOnLink)
	off := len(p)
	share(f.AdmitOffLink)
	drop := len(p)
	ld(bpf.RetConstant{Val: 0})
	pass := len(p)
	ld(bpf.RetConstant{Val: synPass})
	resolve := func(at, to int) (uint8, error) {
		switch to {
		case -1:
			return 0, nil
		case passL:
			to = pass
		case synL:
			to = syn
		case dropL:
			to = drop
		case offL:
			to = off
		}
		d := to - at - 1
		if d < 0 || d > 255 {
			return 0, fmt.Errorf("syn filter: jump of %d instructions", d)
		}
		return uint8(d), nil
	}
	for _, j := range jumps {
		if j.always {
			t, err := resolve(j.at, j.toT)
			if err != nil {
				return nil, err
			}
			p[j.at] = bpf.Jump{Skip: uint32(t)}
			continue
		}
		t, err := resolve(j.at, j.toT)
		if err != nil {
			return nil, err
		}
		e, err := resolve(j.at, j.toF)
		if err != nil {
			return nil, err
		}
		p[j.at] = bpf.JumpIf{Cond: j.cond, Val: j.val, SkipTrue: t, SkipFalse: e}
	}
	raw, err := bpf.Assemble(p)
	if err != nil {
		return nil, fmt.Errorf("syn filter: %w", err)
	}
	out := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		out[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return out, nil
}

// synMask is the TCP flags a bare SYN is judged by: SYN, RST and ACK.
const synMask = 0x02 | 0x04 | 0x10

// SetSynFilter attaches the SYN admission filter f to the link's sockets,
// replacing the one attached (atomically, per socket), or with f nil takes
// it off: the link then receives every frame again (stack.SynFilter; the
// top of this file). It is safe to call from any goroutine; on an error
// the sockets keep the filter they had.
func (l *Link) SetSynFilter(f *stack.SynFilter) error {
	var prog []unix.SockFilter
	if f != nil {
		var err error
		if prog, err = synFilterProgram(f); err != nil {
			return err
		}
	}
	attach := func(fd int) error {
		if prog == nil {
			err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DETACH_FILTER, 0)
			if errors.Is(err, unix.ENOENT) {
				return nil // none attached
			}
			return err
		}
		fp := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
		return unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fp)
	}
	var err error
	if r := l.ring; r != nil {
		r.mu.Lock()
		if !r.closed {
			err = attach(r.fd)
		}
		r.mu.Unlock()
	}
	if err == nil {
		if cerr := fdlink.Control(l.Core, func(fd uintptr) { err = attach(int(fd)) }); cerr != nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("afpacket: syn filter %s: %w", l.Name(), err)
	}
	return nil
}

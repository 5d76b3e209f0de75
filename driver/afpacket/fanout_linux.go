//go:build linux

package afpacket

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// A fanout group (PACKET_FANOUT, Linux Documentation/networking/packet_mmap.rst)
// shares an interface's received frames between the sockets that joined it:
// each frame goes to exactly one of them. OpenGroup joins n Links so that
// every frame of one TCP connection reaches the same Link, and so that the
// Link a connection lands on is known in advance (Group.Shard): a stack
// that dials out picks a local port whose flow comes back to its own Link.
//
// The kernel's own flow hash (PACKET_FANOUT_HASH) cannot be predicted from
// user space (it is keyed by a per-boot secret), so the group runs a
// classic BPF program of ours instead (PACKET_FANOUT_CBPF) whose return
// value is the member's index:
//
//   - TCP over IPv4: flowShard(key, source port, destination port, n); the
//     ports are combined with XOR, so both directions of a flow agree;
//   - ICMP errors (destination unreachable, source quench, time exceeded,
//     parameter problem) quoting a TCP header: the same function of the
//     quoted ports, so a "fragmentation needed" reaches the connection's
//     Link;
//   - every IPv4 fragment (MF set or a non-zero offset: the first one
//     too), and everything else (ARP, UDP, ICMP echo, other EtherTypes):
//     Link 0.
//
// The kernel reassembles nothing for us (no PACKET_FANOUT_FLAG_DEFRAG, so
// neither its AF_PACKET defrag queue nor net.ipv4.ipfrag_* is involved):
// the stack on Link 0 reassembles every fragment with fsm/ip's machine
// and bounds, and passes a TCP datagram of another Link's flow on to that
// Link's loop (stack.Config.HandOff; package netspec). The key is random
// per group, so a peer cannot choose ports that all land on one Link
// without trying.
//
// With the receive ring each Link has two sockets, the ring and the wake
// socket (ring_linux.go), and so the group is two groups: the ring sockets
// join one and the wake sockets another with the same program and member
// order, so a Link's wake socket hears exactly the frames its ring gets.
// The wake sockets' group is made first, so the ring group, registered
// after it, is ahead of it on the device's tap list, as the ring's wake-up
// order needs.

// fanoutMul is the multiplier of flowShard (2^32 / golden ratio).
const fanoutMul = 0x9E3779B1

// flowShard is the member a TCP flow with ports a and b (in either order)
// lands on, in a group of n with key: what the group's program computes.
func flowShard(key, a, b uint16, n int) int {
	h := uint32(a^b^key) * fanoutMul
	return int((h >> 16) % uint32(n))
}

// Group is n Links on one interface joined to one fanout group: the
// frames of a TCP connection always reach the same Link (Shard).
type Group struct {
	// Links are the members, Links[i] receiving the flows Shard maps to i.
	Links []*Link
	key   uint16
}

// Shard returns the index of the Link that receives the TCP flow between
// ports a and b (the order does not matter).
func (g *Group) Shard(a, b uint16) int { return flowShard(g.key, a, b, len(g.Links)) }

// Close closes every Link.
func (g *Group) Close() error {
	var errs []error
	for _, l := range g.Links {
		errs = append(errs, l.Close())
	}
	return errors.Join(errs...)
}

// MaxGroup is the most Links a Group may have (the kernel's
// PACKET_FANOUT_MAX is 65536; more loops than this make no sense).
const MaxGroup = 256

// OpenGroup opens n Links on iface (each as Open with opts) joined to one
// fanout group. n = 1 is a group of one: the same as Open, with the
// program attached.
func OpenGroup(iface string, n int, opts Options) (*Group, error) {
	if n < 1 || n > MaxGroup {
		return nil, fmt.Errorf("afpacket: open group on %s: %d links: want 1..%d", iface, n, MaxGroup)
	}
	var kb [2]byte
	if _, err := rand.Read(kb[:]); err != nil {
		return nil, fmt.Errorf("afpacket: open group on %s: key: %w", iface, err)
	}
	g := &Group{key: binary.LittleEndian.Uint16(kb[:])}
	fan := &fanout{prog: fanoutProgram(g.key, n), flags: unix.PACKET_FANOUT_FLAG_IGNORE_OUTGOING}
	for range n {
		l, err := open(iface, opts, fan)
		if err != nil {
			g.Close()
			return nil, err
		}
		g.Links = append(g.Links, l)
	}
	return g, nil
}

// fanout is the state of the groups a Group's sockets join while they open.
type fanout struct {
	prog  []unix.SockFilter
	flags int    // PACKET_FANOUT_FLAG_IGNORE_OUTGOING unless the kernel refused it
	ids   [2]int // group ids: [0] wake sockets, [1] data (ring or recvmmsg) sockets; 0 = not made yet
}

// join joins fd to the data group (data) or the wake group, making the
// group on its first join, and sets the group's program.
func (f *fanout) join(fd int, data bool) error {
	i, flags := 0, f.flags
	if data {
		i = 1
	}
	if f.ids[i] == 0 {
		err := setFanout(fd, 0, flags|unix.PACKET_FANOUT_FLAG_UNIQUEID)
		if errors.Is(err, unix.EINVAL) && f.flags != 0 && f.ids == [2]int{} {
			// A kernel before 6.8 has no IGNORE_OUTGOING for a group: our
			// own frames then come back and are dropped (RxOutgoing).
			f.flags = 0
			flags &^= unix.PACKET_FANOUT_FLAG_IGNORE_OUTGOING
			err = setFanout(fd, 0, flags|unix.PACKET_FANOUT_FLAG_UNIQUEID)
		}
		if err != nil {
			return err
		}
		v, err := unix.GetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT)
		if err != nil {
			return fmt.Errorf("getsockopt PACKET_FANOUT: %w", err)
		}
		f.ids[i] = v & 0xffff
	} else if err := setFanout(fd, f.ids[i], flags); err != nil {
		return err
	}
	fp := unix.SockFprog{Len: uint16(len(f.prog)), Filter: &f.prog[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_PACKET, unix.PACKET_FANOUT_DATA, &fp); err != nil {
		return fmt.Errorf("setsockopt PACKET_FANOUT_DATA: %w", err)
	}
	return nil
}

// setFanout joins fd to group id of our type (PACKET_FANOUT_CBPF).
func setFanout(fd, id, flags int) error {
	arg := id | (unix.PACKET_FANOUT_CBPF|flags)<<16
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT, arg); err != nil {
		return fmt.Errorf("setsockopt PACKET_FANOUT: %w", err)
	}
	return nil
}

// Classic BPF offsets of the kernel's special loads (linux/filter.h).
const (
	skfAdProtocol = 0xfffff000 // SKF_AD_OFF + SKF_AD_PROTOCOL: skb->protocol
	skfNet        = 0xfff00000 // SKF_NET_OFF: from the network header
)

// fanoutProgram is the group's program (see the top of this file): the
// member index of a frame in a group of n with key.
func fanoutProgram(key uint16, n int) []unix.SockFilter {
	const (
		other = 35 // index of "ret #0"
		tcp   = 22
		ports = 25
	)
	ins := func(code uint16, k uint32) unix.SockFilter { return unix.SockFilter{Code: code, K: k} }
	// jmp is a conditional jump from instruction at (its index) to
	// targets t and f (absolute indexes; -1: the next instruction).
	jmp := func(at int, code uint16, k uint32, t, f int) unix.SockFilter {
		rel := func(to int) uint8 {
			if to < 0 {
				return 0
			}
			return uint8(to - at - 1)
		}
		return unix.SockFilter{Code: unix.BPF_JMP | code | unix.BPF_K, K: k, Jt: rel(t), Jf: rel(f)}
	}
	p := []unix.SockFilter{
		ins(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, skfAdProtocol), // 0: A = EtherType
		jmp(1, unix.BPF_JEQ, 0x0800, -1, other),                 // 1: IPv4?
		ins(unix.BPF_LD|unix.BPF_B|unix.BPF_ABS, skfNet+9),      // 2: A = protocol
		jmp(3, unix.BPF_JEQ, unix.IPPROTO_TCP, tcp, -1),         // 3
		jmp(4, unix.BPF_JEQ, unix.IPPROTO_ICMP, -1, other),      // 4
		ins(unix.BPF_LD|unix.BPF_H|unix.BPF_ABS, skfNet+6),      // 5: ICMP: flags, fragment offset
		jmp(6, unix.BPF_JSET, 0x3fff, other, -1),                // 6: a fragment (MF or offset)
		ins(unix.BPF_LDX|unix.BPF_B|unix.BPF_MSH, skfNet),       // 7: X = IP header length
		ins(unix.BPF_LD|unix.BPF_B|unix.BPF_IND, skfNet),        // 8: A = ICMP type
		jmp(9, unix.BPF_JEQ, 3, 13, -1),                         // 9: destination unreachable
		jmp(10, unix.BPF_JEQ, 11, 13, -1),                       // 10: time exceeded
		jmp(11, unix.BPF_JEQ, 12, 13, -1),                       // 11: parameter problem
		jmp(12, unix.BPF_JEQ, 4, -1, other),                     // 12: source quench
		ins(unix.BPF_LD|unix.BPF_B|unix.BPF_IND, skfNet+8+9),    // 13: A = quoted protocol
		jmp(14, unix.BPF_JEQ, unix.IPPROTO_TCP, -1, other),      // 14
		ins(unix.BPF_LD|unix.BPF_B|unix.BPF_IND, skfNet+8),      // 15: A = quoted version, IHL
		ins(unix.BPF_ALU|unix.BPF_AND|unix.BPF_K, 0xf),          // 16
		ins(unix.BPF_ALU|unix.BPF_LSH|unix.BPF_K, 2),            // 17: quoted header length
		ins(unix.BPF_ALU|unix.BPF_ADD|unix.BPF_X, 0),            // 18: + outer header length
		ins(unix.BPF_ALU|unix.BPF_ADD|unix.BPF_K, 8),            // 19: + ICMP header
		ins(unix.BPF_MISC|unix.BPF_TAX, 0),                      // 20: X = quoted TCP header
		ins(unix.BPF_JMP|unix.BPF_JA, ports-21-1),               // 21
		ins(unix.BPF_LD|unix.BPF_H|unix.BPF_ABS, skfNet+6),      // 22: TCP: flags, fragment offset
		jmp(23, unix.BPF_JSET, 0x3fff, other, -1),               // 23: a fragment (MF or offset)
		ins(unix.BPF_LDX|unix.BPF_B|unix.BPF_MSH, skfNet),       // 24: X = IP header length
		ins(unix.BPF_LD|unix.BPF_W|unix.BPF_IND, skfNet),        // 25: A = source port<<16 | destination port
		ins(unix.BPF_MISC|unix.BPF_TAX, 0),                      // 26
		ins(unix.BPF_ALU|unix.BPF_RSH|unix.BPF_K, 16),           // 27
		ins(unix.BPF_ALU|unix.BPF_XOR|unix.BPF_X, 0),            // 28
		ins(unix.BPF_ALU|unix.BPF_AND|unix.BPF_K, 0xffff),       // 29: A = a ^ b
		ins(unix.BPF_ALU|unix.BPF_XOR|unix.BPF_K, uint32(key)),  // 30
		ins(unix.BPF_ALU|unix.BPF_MUL|unix.BPF_K, fanoutMul),    // 31
		ins(unix.BPF_ALU|unix.BPF_RSH|unix.BPF_K, 16),           // 32
		ins(unix.BPF_ALU|unix.BPF_MOD|unix.BPF_K, uint32(n)),    // 33
		ins(unix.BPF_RET|unix.BPF_A, 0),                         // 34
		ins(unix.BPF_RET|unix.BPF_K, 0),                         // 35: other: member 0
	}
	return p
}

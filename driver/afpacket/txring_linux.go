//go:build linux

package afpacket

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/netspec/netspec/driver/fdlink"
)

// The send ring is a TPACKET_V2 PACKET_TX_RING (Linux
// Documentation/networking/packet_mmap.rst) on a socket of its own, bound to
// the interface with protocol 0 so that it receives nothing: fixed slots
// shared with the kernel. A send fills the free slots from the kernel's
// head on (the virtio-net header, then the frame, then tp_len and the
// status TP_STATUS_SEND_REQUEST) and makes one sendto without a buffer:
// tpacket_snd takes every requested slot from its head on, in order, until
// one is not requested or fails. So a batch costs one system call and no
// msghdr or iovec per frame (BenchmarkVethTx: 16-24 % less sender CPU per
// 60-byte frame than sendmmsg, 7-21 % per 1514-byte frame).
//
// What the kernel does with a slot (net/packet/af_packet.c, tpacket_snd):
//   - taken: TP_STATUS_SENDING, then TP_STATUS_AVAILABLE when the skb is
//     freed or orphaned (tpacket_destruct_skb); the slot is then ours again.
//   - refused (malformed, device down, dropped by the device, no socket
//     memory): left TP_STATUS_SEND_REQUEST or TP_STATUS_WRONG_FORMAT, the
//     kernel's head stays on it and the call returns the error. The send
//     takes such a slot back (AVAILABLE) and reports the frame refused with
//     the error, so the head is again the next slot to fill.
//
// Only frames the kernel copies whole go through the ring: tpacket_snd
// copies hdr_len bytes (the virtio-net header's) into the skb and attaches
// the rest of the slot as page fragments, and a slot comes back when the
// skb is orphaned, which a delaying qdisc (netem) does before it sends:
// fragments would then be read after the slot was reused. So the send sets
// hdr_len to the frame's length and the ring takes plain frames up to the
// MTU (slots are sized for them); GSO super-frames (up to 64 KiB, which
// the veth takes whole, and whose copy costs far more than the system
// call) go out with sendmmsg on the link's other socket, in their place in the
// batch. The ring needs PACKET_VNET_HDR (hdr_len is the header's).
const (
	txHdrLen = 32 // TPACKET_ALIGN(sizeof(struct tpacket2_hdr)): the frame's data starts here
	txLenOff = 4  // tp_len: virtio-net header and frame

	tpStatusAvailable   = 0
	tpStatusSendRequest = 1
	tpStatusWrongFormat = 4

	// DefaultTxRingFrames is the number of send ring slots: four batches
	// (DefaultBatch) in flight.
	DefaultTxRingFrames = 4 * DefaultBatch
	// txRingBlock is the ring's block size: one allocation of the kernel's.
	txRingBlock = 64 << 10
)

// txRingWait bounds how long a send waits for a slot when every slot is in
// flight (held by a qdisc); then the frame is refused (ENOBUFS), as a full
// queue drops.
var txRingWait = 50 * time.Millisecond

// txRing is the send ring of a Link: its socket and mapping. It is used
// under the link core's send lock; mu keeps Close from unmapping it under
// a sender.
type txRing struct {
	mu     sync.Mutex
	closed bool
	fd     int
	mem    []byte
	fsize  int // bytes per slot
	bsize  int // bytes per block
	per    int // slots per block
	slots  int
	next   int // the next slot to fill: the kernel's head
	maxLen int // the longest frame a slot takes: MTU, Ethernet header, a VLAN tag
	pfd    [1]unix.PollFd

	full atomic.Uint64 // sends that found every slot in flight and waited
}

// newTxRing makes the send ring's socket for the interface ifindex with an
// MTU of mtu, with at least slots slots, maps the ring and binds the socket
// (protocol 0: it receives nothing). Its send buffer is raised so that
// every slot can be in flight at once: the ring, not the buffer, bounds
// what waits.
func newTxRing(ifindex, mtu, slots int) (*txRing, error) {
	if slots <= 0 {
		slots = DefaultTxRingFrames
	}
	t := &txRing{maxLen: mtu + 14 + 4}
	t.fsize = (txHdrLen + fdlink.VnetHdrLen + t.maxLen + 15) &^ 15
	t.bsize = max(txRingBlock, (t.fsize+os.Getpagesize()-1)&^(os.Getpagesize()-1))
	t.per = t.bsize / t.fsize
	nblk := (slots + t.per - 1) / t.per
	t.slots = nblk * t.per
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	t.fd = fd
	if err := t.setup(ifindex, nblk); err != nil {
		unix.Close(fd)
		return nil, err
	}
	t.pfd[0] = unix.PollFd{Fd: int32(fd), Events: unix.POLLOUT}
	return t, nil
}

func (t *txRing) setup(ifindex, nblk int) error {
	for _, o := range []struct {
		name     string
		level    int
		opt, val int
	}{
		{"PACKET_VNET_HDR", unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1},
		{"PACKET_VERSION", unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V2},
		{"SO_SNDBUFFORCE", unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4 * t.slots * t.fsize},
	} {
		if err := unix.SetsockoptInt(t.fd, o.level, o.opt, o.val); err != nil {
			return fmt.Errorf("setsockopt %s: %w", o.name, err)
		}
	}
	req := unix.TpacketReq{
		Block_size: uint32(t.bsize), Block_nr: uint32(nblk),
		Frame_size: uint32(t.fsize), Frame_nr: uint32(t.slots),
	}
	if err := unix.SetsockoptTpacketReq(t.fd, unix.SOL_PACKET, unix.PACKET_TX_RING, &req); err != nil {
		return fmt.Errorf("setsockopt PACKET_TX_RING (%d x %d bytes): %w", nblk, t.bsize, err)
	}
	mem, err := unix.Mmap(t.fd, 0, nblk*t.bsize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mmap send ring: %w", err)
	}
	if err := unix.Bind(t.fd, &unix.SockaddrLinklayer{Ifindex: ifindex}); err != nil {
		unix.Munmap(mem)
		return fmt.Errorf("bind send ring: %w", err)
	}
	t.mem = mem
	return nil
}

// close unmaps the ring and closes its socket, once no sender is in it.
func (t *txRing) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	t.closed = true
	unix.Munmap(t.mem)
	unix.Close(t.fd)
	t.mem = nil
}

// slot returns the i-th slot after the next one to fill.
func (t *txRing) slot(i int) []byte {
	s := (t.next + i) % t.slots
	off := s/t.per*t.bsize + s%t.per*t.fsize
	return t.mem[off : off+t.fsize]
}

// status returns slot s's tp_status.
func status(s []byte) uint32 { return u32(s, 0) }

// setStatus stores slot s's tp_status after what precedes it in program
// order (an atomic store: the kernel reads the slot from another CPU).
func setStatus(s []byte, v uint32) {
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&s[0])), v)
}

// plain reports whether the ring takes frame i of tx: not a GSO
// super-frame, and no longer than a slot holds. Longer plain frames go to
// sendmmsg, which refuses them as the kernel does (EMSGSIZE).
func (t *txRing) plain(tx *fdlink.Tx, i int) bool {
	return len(tx.Frames()[i]) <= t.maxLen && !tx.GSO(i)
}

// send is the link core's Write with the send ring (fdlink.Config.Write,
// fd the link core's socket): it sends the run of frames from tx.Sent()
// on that the ring takes, or else the run that it does not with sendmmsg.
func (l *Link) ringSend(fd uintptr, tx *fdlink.Tx) (int, unix.Errno) {
	t := l.tx
	base := tx.Sent()
	if !t.plain(tx, base) {
		end := base + 1
		for end < len(tx.Frames()) && !t.plain(tx, end) {
			end++
		}
		return l.sendmmsg(fd, tx, end)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return 0, unix.EBADF // Close is under way: the core reports that
	}
	k := t.fill(tx)
	if k == 0 {
		if e := t.wait(); e != 0 {
			return 0, e
		}
		if k = t.fill(tx); k == 0 {
			return 0, unix.ENOBUFS
		}
	}
	_, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(t.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	taken := 0
	for taken < k {
		if st := status(t.slot(taken)); st == tpStatusSendRequest || st&tpStatusWrongFormat != 0 {
			break
		}
		taken++
	}
	for i := taken; i < k; i++ {
		setStatus(t.slot(i), tpStatusAvailable) // not sent: ours again
	}
	t.next = (t.next + taken) % t.slots
	switch {
	case taken == k:
		return k, 0
	case e == unix.EAGAIN:
		// No socket memory: the ring should bound what is in flight
		// before the send buffer does; refuse rather than wait on the
		// core's descriptor, which would not wake for this one.
		return taken, unix.ENOBUFS
	case e != 0:
		return taken, e
	case taken > 0:
		return taken, 0 // stopped without an error after some were sent: ask again
	}
	// Nothing taken and no error: the kernel's head is not where the ring
	// thinks. Refuse the frame rather than spin.
	return 0, unix.EPROTO
}

// fill copies the run of frames of tx from tx.Sent() on that the ring
// takes into its free slots and requests them; it returns how many.
func (t *txRing) fill(tx *fdlink.Tx) int {
	base := tx.Sent()
	frames := tx.Frames()
	k := 0
	for base+k < len(frames) && k < t.slots && t.plain(tx, base+k) {
		s := t.slot(k)
		if status(s) != tpStatusAvailable {
			break
		}
		f := frames[base+k]
		h := (*fdlink.VnetHdr)(s[txHdrLen:])
		*h = *tx.Hdr(base+k, h)
		binary.NativeEndian.PutUint16(h[2:], uint16(len(f))) // hdr_len: copied whole (see above)
		copy(s[txHdrLen+fdlink.VnetHdrLen:], f)
		binary.NativeEndian.PutUint32(s[txLenOff:], uint32(fdlink.VnetHdrLen+len(f)))
		setStatus(s, tpStatusSendRequest)
		k++
	}
	return k
}

// wait waits until the next slot is free (the kernel has released the
// skb), at most txRingWait; it returns ENOBUFS when none came free.
func (t *txRing) wait() unix.Errno {
	t.full.Add(1)
	deadline := time.Now().Add(txRingWait)
	for status(t.slot(0)) != tpStatusAvailable {
		left := time.Until(deadline)
		if left <= 0 {
			return unix.ENOBUFS
		}
		// poll also reports a socket with send buffer room writable, so
		// it may return at once: then pause before looking again.
		t.pfd[0].Revents = 0
		if n, _ := unix.Poll(t.pfd[:], int(left/time.Millisecond)+1); n > 0 && status(t.slot(0)) != tpStatusAvailable {
			time.Sleep(100 * time.Microsecond)
		}
	}
	return 0
}

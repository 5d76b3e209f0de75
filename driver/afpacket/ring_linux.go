//go:build linux

package afpacket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/netspec/netspec/driver/fdlink"
)

// The receive ring is a TPACKET_V3 PACKET_RX_RING (Linux
// Documentation/networking/packet_mmap.rst): blocks of memory shared with
// the kernel, which copies each frame into the open block, behind a
// struct tpacket3_hdr and a struct sockaddr_ll and, with PACKET_VNET_HDR,
// the virtio-net header just before the frame (at tp_mac - 10, as
// tpacket_rcv writes it: the same header recvmmsg delivers, so the
// checksum and GSO metadata reach the stack unchanged). No system call per
// frame: the cost is the kernel's copy.
//
// Latency. The kernel hands a V3 block to user space (and wakes a poller)
// only when the block is full or its retire timer fires (at least 1 ms), so
// a reader that sleeps until then adds up to the timeout to every frame at
// light load. This reader never waits for a block to retire:
//
//   - it reads the frames of the block the kernel is still filling as soon
//     as each is complete. The kernel claims a frame's place (tp_next_offset,
//     num_pkts) under its lock, copies the frame, then writes the headers,
//     sockaddr_ll last (sll_ifindex is its final store). A block's frame area
//     is all zeros when the kernel opens it (zeroed pages at setup; this
//     reader clears what a block used before handing it back: clearConsumed),
//     so a non-zero sll_ifindex means the frame and its headers are
//     complete: x86 makes
//     stores visible in order and does not reorder loads (other
//     architectures would need barriers the kernel does not issue for V3,
//     so there the ring is not used);
//   - it sleeps not on the ring socket but on a second AF_PACKET socket
//     bound to the same interface, the wake socket (the link core's
//     descriptor, which also sends), whose tiny receive buffer queues a
//     clone of the first frame or two that arrive and drops the rest before
//     cloning them. So each frame that arrives while the reader sleeps wakes
//     it, as with recvmmsg. Before sleeping the reader empties the wake
//     socket and looks at the ring once more. The ring socket is bound after
//     the wake socket, so it is first on the device's tap list and the
//     kernel has finished copying a frame into the ring before it queues the
//     frame's clone on the wake socket: a frame the last look missed wakes
//     the reader. A bounded sleep (ringMaxSleep) backs this up.
//
// The retire timeout then only decides when a part-filled block goes back
// to the kernel's free list; ringRetire is short so an idle ring keeps all
// its blocks free.
const (
	ringRetire = 4 // ms, tpacket_req3.tp_retire_blk_tov
	wakeRcvBuf = 1 // SO_RCVBUF of the wake socket: the kernel's minimum
	wakeMsgs   = 8 // messages one drain of the wake socket takes
)

// ringMaxSleep bounds one sleep of a ring reader: a backstop for a missed
// wake-up (a variable so a test can take the backstop away).
var ringMaxSleep = 10 * time.Millisecond

// TPACKET_V3 layout (linux/if_packet.h), offsets in bytes.
const (
	blkHdrLen     = 48 // BLK_PLUS_PRIV(0): struct tpacket_block_desc, no private area
	blkStatusOff  = 8  // hdr.bh1.block_status
	blkNumPktsOff = 12 // hdr.bh1.num_pkts
	blkLenOff     = 20 // hdr.bh1.blk_len: bytes used, descriptor included
	frNextOff     = 0  // tp_next_offset
	frSnapOff     = 12 // tp_snaplen
	frLenOff      = 16 // tp_len
	frMacOff      = 24 // tp_mac
	frSllOff      = 48 // TPACKET_ALIGN(sizeof(struct tpacket3_hdr)): the sockaddr_ll
	frIfindexOff  = frSllOff + 4
	frPkttypeOff  = frSllOff + 10
	frMinLen      = frSllOff + unix.SizeofSockaddrLinklayer
)

// ring is the receive ring of a Link: the ring socket and its mapping. The
// reader's position is used under the link core's receive lock; mu keeps
// Close from unmapping the ring under a reader.
type ring struct {
	mu     sync.Mutex
	closed bool
	fd     int
	mem    []byte
	bsize  int
	nblk   int
	hdrLen int // virtio-net header length before each frame, or 0

	cur   int    // block being read
	off   int    // offset in it of the next frame (0: the first)
	taken uint32 // frames of it consumed
	clr   int    // offset up to which its frame area is cleared (0: none of it)

	// lending: the current read lends frames (Link.ReadLent); the blocks
	// it finishes are held, not handed back, until the next read.
	lending bool
	held    []heldBlock

	drainIov  [wakeMsgs]unix.Iovec
	drainMsgs [wakeMsgs]unix.Mmsghdr
	drainBuf  [wakeMsgs][64]byte

	blocks, bad, freezes atomic.Uint64
}

// ringUnsupported says why this system cannot use the ring, or "".
func ringUnsupported() string {
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "386" {
		return "reading a block the kernel is filling relies on x86 store order (GOARCH " + runtime.GOARCH + ")"
	}
	return ""
}

// newRing makes the ring socket with its mapping, not yet bound (bindRing).
func newRing(iface string, opts Options, vnet bool) (*ring, error) {
	if why := ringUnsupported(); why != "" {
		return nil, errors.New(why)
	}
	r := &ring{bsize: opts.RingBlockSize, nblk: opts.RingBlocks}
	if r.bsize <= 0 {
		r.bsize = DefaultRingBlockSize
	}
	if r.nblk <= 0 {
		r.nblk = DefaultRingBlocks
	}
	if vnet {
		r.hdrLen = fdlink.VnetHdrLen
	}
	maxFrame := opts.MaxFrame
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	page := os.Getpagesize()
	// tpacket_rcv puts the frame at most 128 bytes in (headers, alignment
	// and the virtio-net header): the largest frame must fit a block whole.
	if r.bsize%page != 0 || r.bsize < blkHdrLen+128+maxFrame {
		return nil, fmt.Errorf("block size %d: want a multiple of %d holding a %d-byte frame", r.bsize, page, maxFrame)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	r.fd = fd
	if err := r.setup(opts); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return r, nil
}

func (r *ring) setup(opts Options) error {
	// The header must be chosen before the ring exists (EBUSY after).
	if r.hdrLen > 0 {
		if err := unix.SetsockoptInt(r.fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
			return fmt.Errorf("setsockopt PACKET_VNET_HDR: %w", err)
		}
	}
	if err := unix.SetsockoptInt(r.fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return fmt.Errorf("setsockopt PACKET_VERSION: %w", err)
	}
	_ = unix.SetsockoptInt(r.fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
	const frameSize = 2048 // V3 packs frames; the kernel only checks the arithmetic
	req := unix.TpacketReq3{
		Block_size:     uint32(r.bsize),
		Block_nr:       uint32(r.nblk),
		Frame_size:     frameSize,
		Frame_nr:       uint32(r.bsize / frameSize * r.nblk),
		Retire_blk_tov: ringRetire,
	}
	if err := unix.SetsockoptTpacketReq3(r.fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fmt.Errorf("setsockopt PACKET_RX_RING (%d x %d bytes): %w", r.nblk, r.bsize, err)
	}
	mem, err := unix.Mmap(r.fd, 0, r.bsize*r.nblk, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mmap ring: %w", err)
	}
	r.mem = mem
	r.held = make([]heldBlock, 0, r.nblk)
	for i := range r.drainMsgs {
		r.drainIov[i].Base = &r.drainBuf[i][0]
		r.drainIov[i].SetLen(len(r.drainBuf[i]))
		r.drainMsgs[i].Hdr.Iov = &r.drainIov[i]
		r.drainMsgs[i].Hdr.SetIovlen(1)
	}
	return nil
}

// bind binds the ring socket to the interface (after the wake socket, see
// the ring's doc) and joins promiscuous membership if asked.
func (r *ring) bind(ifindex int, promisc bool) error {
	if err := unix.Bind(r.fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}); err != nil {
		return fmt.Errorf("bind ring: %w", err)
	}
	if promisc {
		mreq := &unix.PacketMreq{Ifindex: int32(ifindex), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(r.fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, mreq); err != nil {
			return fmt.Errorf("setsockopt PACKET_ADD_MEMBERSHIP: %w", err)
		}
	}
	return nil
}

// close unmaps the ring and closes its socket, once no reader is in it.
func (r *ring) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.closed = true
	unix.Munmap(r.mem)
	unix.Close(r.fd)
	r.mem = nil
}

// stats adds the kernel's drop counts since the last call (PACKET_STATISTICS
// resets on read) to drops.
func (r *ring) stats(drops *atomic.Uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	if st, err := unix.GetsockoptTpacketStatsV3(r.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
		drops.Add(uint64(st.Drops))
		r.freezes.Add(uint64(st.Freeze_q_cnt))
	}
}

// u32 reads a 32-bit field of the ring.
func u32(b []byte, off int) uint32 {
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(&b[off])))
}

// ringRecv is the link core's Read in ring mode (fdlink.Config.Read; fd is
// the wake socket's): it hands the ring's complete frames to rx and, when
// there are none, empties the wake socket and looks once more, so that
// EAGAIN (sleep) is returned only when a frame arriving from now on will
// wake the reader.
func (l *Link) ringRecv(fd uintptr, rx *fdlink.Rx) unix.Errno {
	r := l.ring
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return unix.EAGAIN // the core's descriptor is closed too: it reports that
	}
	r.releaseHeld()   // the frames lent by the previous read are no longer in use
	r.clearConsumed() // nor those it took from the current block
	if l.ringTake(rx) > 0 {
		return 0
	}
	r.drainWake(fd)
	if l.ringTake(rx) > 0 {
		return 0
	}
	return unix.EAGAIN
}

// drainWake empties the wake socket's queue.
func (r *ring) drainWake(fd uintptr) {
	for {
		n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.drainMsgs[0])), wakeMsgs, unix.MSG_DONTWAIT|unix.MSG_TRUNC, 0, 0)
		if e != 0 || n < wakeMsgs {
			return
		}
	}
}

// ringTake moves complete frames from the ring into rx's free slots, in
// the order the kernel received them, handing back each block it has
// emptied once the kernel has retired it. It returns how many frames it
// consumed (delivered, or counted and dropped).
func (l *Link) ringTake(rx *fdlink.Rx) int {
	r := l.ring
	var now time.Time
	took := 0
	for rx.Got() < rx.Offered() {
		if len(r.held) == r.nblk && !r.stopHeld(rx) {
			return took
		}
		b := r.mem[r.cur*r.bsize : (r.cur+1)*r.bsize]
		retired := u32(b, blkStatusOff)&unix.TP_STATUS_USER != 0
		if retired && r.taken >= u32(b, blkNumPktsOff) {
			r.release(b)
			continue
		}
		if r.off == 0 {
			r.off = blkHdrLen
		}
		if r.off > r.bsize-frMinLen {
			if !retired {
				return took // the kernel moved on to the next block; this one retires soon
			}
			r.bad.Add(uint64(u32(b, blkNumPktsOff) - r.taken))
			r.release(b)
			continue
		}
		f := b[r.off:]
		if u32(f, frIfindexOff) == 0 {
			if !retired {
				return took // not complete yet
			}
			// Claimed by the kernel but never filled (tpacket_rcv gave up
			// after claiming, e.g. a virtio-net header it could not write).
			r.bad.Add(1)
			r.taken++
			if !r.advance(f) {
				r.release(b)
			}
			continue
		}
		if now.IsZero() {
			now = time.Now()
		}
		l.ringFrame(rx, b, f, now)
		took++
		r.taken++
		if !r.advance(f) && retired {
			r.release(b)
		}
	}
	return took
}

// advance moves past frame f; it reports false when f was the block's last
// (tp_next_offset 0, written when the kernel closes the block).
func (r *ring) advance(f []byte) bool {
	next := int(binary.NativeEndian.Uint32(f[frNextOff:]))
	if next == 0 {
		r.off = r.bsize
		return false
	}
	r.off += next
	return true
}

// ringFrame delivers the complete frame whose headers start f (in block
// b) to rx, or counts it: looped-back transmissions, frames whose offsets
// do not fit the block, frames the ring cut (tp_snaplen < tp_len) or the
// caller's buffer cannot hold (both RxTruncated, through rx.Received).
func (l *Link) ringFrame(rx *fdlink.Rx, b, f []byte, now time.Time) {
	r := l.ring
	if f[frPkttypeOff] == unix.PACKET_OUTGOING {
		l.rxOut.Add(1)
		return
	}
	snap := int(binary.NativeEndian.Uint32(f[frSnapOff:]))
	full := int(binary.NativeEndian.Uint32(f[frLenOff:]))
	mac := r.off + int(binary.NativeEndian.Uint16(f[frMacOff:]))
	if mac-r.hdrLen < r.off+frMinLen || mac+snap > len(b) {
		r.bad.Add(1)
		return
	}
	var h *fdlink.VnetHdr
	if r.hdrLen > 0 {
		h = (*fdlink.VnetHdr)(b[mac-r.hdrLen : mac])
	}
	slot := rx.Got()
	cut := snap < full
	if r.lending {
		rx.Lend(slot, b[mac:mac+snap:mac+snap])
		cut = cut || snap > l.MaxFrame()
	} else if dst := rx.Frame(slot); snap <= len(dst) {
		copy(dst, b[mac:mac+snap])
	}
	rx.Received(slot, snap+r.hdrLen, cut, h, now)
}

// heldBlock is a block a lending read finished, held until the next read
// (release): its index and the offset up to which it is already cleared.
type heldBlock struct{ i, clr int }

// release moves the reader past block b, which it has emptied: b goes
// back to the kernel now, or after the next read if the current read lends
// frames (they may lie in b). A lending read stops before it comes back to
// a block it holds (stopHeld).
func (r *ring) release(b []byte) {
	if r.lending {
		r.held = append(r.held, heldBlock{r.cur, r.clr})
	} else {
		r.handBack(b, r.clr)
	}
	r.cur = (r.cur + 1) % r.nblk
	r.off, r.taken, r.clr = 0, 0, 0
}

// stopHeld is asked when a lending read has come round the whole ring to
// a block it holds (r.cur is held: it holds every block). Such a block is
// still the kernel's TP_STATUS_USER with its old frames, and reading it
// again would deliver them a second time; so the read stops there when it
// has lent frames (the next read hands the blocks back first), and
// otherwise, no frame of the read lying in them, hands them back now and
// goes on. It reports whether the read goes on.
func (r *ring) stopHeld(rx *fdlink.Rx) bool {
	if rx.Got() > 0 {
		return false
	}
	r.releaseHeld()
	return true
}

// releaseHeld hands back the blocks a lending read held.
func (r *ring) releaseHeld() {
	for _, h := range r.held {
		r.handBack(r.mem[h.i*r.bsize:(h.i+1)*r.bsize], h.clr)
	}
	r.held = r.held[:0]
}

// clearConsumed clears the frames the reader has moved past in the block
// it is still reading, once the previous read's frames are no longer in
// use: the kernel never writes a frame's place again once it has
// completed the frame (closing the block writes only the last frame's
// tp_next_offset, and a zero), and the frames the reader has not reached
// are left alone. So each frame is cleared soon after the stack consumed
// it, while its lines are still in this core's cache, rather than a whole
// block at once when the reader leaves it (handBack clears what is left).
func (r *ring) clearConsumed() {
	if r.off <= blkHdrLen || r.off <= r.clr {
		return
	}
	b := r.mem[r.cur*r.bsize : (r.cur+1)*r.bsize]
	// Past its last frame r.off is the block's end: what lies beyond the
	// used part (blk_len, which covers every frame claimed) is still zero.
	end := min(r.off, int(u32(b, blkLenOff)), len(b))
	if start := max(r.clr, blkHdrLen); end > start {
		clear(b[start:end])
		r.clr = end
	}
}

// handBack clears what block b used from offset from on (the reader
// cleared what lies before: clearConsumed), so its frame area is all zeros
// when the kernel opens it again, and gives it to the kernel.
//
// Why clear at all: the kernel does not need zeroed blocks, but the reader
// does, to read the block the kernel is still filling. A V3 frame has no
// status word of its own that the kernel sets on completion (tp_status is
// or-ed into whatever lies there), and the place of the next frame holds
// the previous fill's octets, frame payload the peer chose among them:
// only a zero there makes sll_ifindex a completion mark that no payload
// can forge. Reading only retired blocks would need no clearing, but the
// kernel retires a part-filled block only on its timer (a jiffy or more),
// which would hold the ACK of the last frames of every flight.
func (r *ring) handBack(b []byte, from int) {
	used := min(int(u32(b, blkLenOff)), len(b))
	if from = max(from, blkHdrLen); used > from {
		clear(b[from:used])
	}
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&b[blkStatusOff])), unix.TP_STATUS_KERNEL)
	r.blocks.Add(1)
}

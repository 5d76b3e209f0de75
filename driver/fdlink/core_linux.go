//go:build linux

package fdlink

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fsm/wire"
)

// Config describes the link a Core serves and the driver's system calls.
type Config struct {
	// Driver names the driver ("afpacket", "tap"); Name names the interface.
	// Every error starts "<Driver>: <op> <Name>: ".
	Driver, Name string
	// MAC is the link's address, MTU its MTU.
	MAC wire.MAC
	MTU int
	// Batch is the most frames one ReadBatch delivers and one WriteBatch
	// round hands to Write; MaxFrame the largest frame delivered (zero:
	// DefaultBatch, DefaultMaxFrame).
	Batch, MaxFrame int
	// Vnet says every frame, both ways, is preceded by a virtio-net header.
	Vnet bool
	// Drain makes ReadBatch read until the batch is full or the descriptor
	// is drained, for descriptors that give one frame a read (TAP). Without
	// it ReadBatch returns after the first read that delivers, for system
	// calls that fill a batch at once (recvmmsg).
	Drain bool
	// Read makes one non-blocking read system call on fd into the slots of
	// rx from rx.Got() on and reports each frame with rx.Received. It
	// returns the call's errno (0, EAGAIN, EINTR or a failure); ReadOp names
	// the call in errors.
	Read   func(fd uintptr, rx *Rx) unix.Errno
	ReadOp string
	// Write makes one non-blocking write system call on fd sending frames
	// from tx.Sent() on (headers from tx.Hdr) and returns how many the
	// kernel took and the call's errno; on a failure the frame after those
	// taken is the one refused (EAGAIN: none refused, wait for room).
	// WriteOp names the call in errors.
	Write   func(fd uintptr, tx *Tx) (int, unix.Errno)
	WriteOp string
}

// Core is the part of an fd-based link every driver shares. ReadBatch is for
// one goroutine at a time (calls are serialised), WriteBatch likewise; Close
// may be called from any goroutine.
type Core struct {
	cfg    Config
	hdrLen int // VnetHdrLen with the virtio-net header, else 0

	f      *os.File
	rc     syscall.RawConn
	closed atomic.Bool

	rmu    sync.Mutex // guards rx
	rx     Rx
	rfn    func(fd uintptr) bool
	rctl   func(fd uintptr)
	rready func() bool

	wmu sync.Mutex // guards tx
	tx  Tx
	wfn func(fd uintptr) bool

	rxFrames, rxBytes, rxTrunc, rxShort, rxPartial, rxValid, rxGSO atomic.Uint64
	txFrames, txBytes, txErrs                                      atomic.Uint64
}

// Rx is the receive batch in progress: the caller's buffers and what has
// been delivered into them. Config.Read fills it.
type Rx struct {
	c      *Core
	frames [][]byte
	n      []int
	meta   []driver.RxMeta
	got    int
	bytes  uint64
	err    error
}

// Tx is the send batch in progress: at most Config.Batch frames, their
// metadata and how many the kernel has taken. Config.Write sends from it.
type Tx struct {
	frames [][]byte
	meta   []driver.TxMeta
	sent   int
	first  error   // the first refusal of the WriteBatch call
	zero   VnetHdr // the header of a plain frame: no offload requested
}

// New makes a Core for the non-blocking descriptor fd, which it owns from
// now on: on failure it closes fd.
func New(fd int, cfg Config) (*Core, error) {
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.MaxFrame <= 0 {
		cfg.MaxFrame = DefaultMaxFrame
	}
	c := &Core{cfg: cfg}
	if cfg.Vnet {
		c.hdrLen = VnetHdrLen
	}
	c.f = os.NewFile(uintptr(fd), cfg.Driver+":"+cfg.Name)
	if err := c.f.SetReadDeadline(time.Time{}); err != nil {
		c.f.Close()
		return nil, c.errf("poll", err) // not pollable: deadlines would not work
	}
	var err error
	if c.rc, err = c.f.SyscallConn(); err != nil {
		c.f.Close()
		return nil, c.errf("open", err)
	}
	c.rx.c = c
	c.rfn = c.recv
	c.rctl = func(fd uintptr) { c.recv(fd) }
	c.rready = func() bool { return c.rx.got > 0 || c.rx.err != nil }
	c.wfn = c.send
	return c, nil
}

// errf wraps err as "<driver>: <op> <name>: <err>".
func (c *Core) errf(op string, err error) error {
	return fmt.Errorf("%s: %s %s: %w", c.cfg.Driver, op, c.cfg.Name, err)
}

// Name returns the interface's name.
func (c *Core) Name() string { return c.cfg.Name }

// MTU returns the interface's MTU, read at Open.
func (c *Core) MTU() int { return c.cfg.MTU }

// MaxFrame returns the largest frame ReadBatch delivers (super-frames
// included).
func (c *Core) MaxFrame() int { return c.cfg.MaxFrame }

// MAC returns the link's hardware address: the address the stack answers to.
func (c *Core) MAC() wire.MAC { return c.cfg.MAC }

// GSOMaxSize is the largest super-frame's IPv4 length with the virtio-net
// header, and 0 without (driver.GSOLink): 65535 less the Ethernet header.
// A device takes a GSO skb whole only while it is shorter than its
// gso_max_size (64 KiB, veth's too), Ethernet header included; a longer one
// the kernel cuts into MSS-sized packets in software before the device, at
// six times the sender's CPU per octet (BenchmarkVethTx, frame=gso-over).
func (c *Core) GSOMaxSize() int {
	if c.cfg.Vnet {
		return gsoMaxIPLen
	}
	return 0
}

// gsoMaxIPLen is GSOMaxSize with the virtio-net header: the frame, at most
// 65535 octets, stays under the devices' 64 KiB gso_max_size.
const gsoMaxIPLen = 65535 - wire.EthernetHeaderLen

// Close closes the descriptor; blocked ReadBatch calls return
// driver.ErrClosed.
func (c *Core) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	if err := c.f.Close(); err != nil {
		return c.errf("close", err)
	}
	return nil
}

// Stats returns the link's counters.
func (c *Core) Stats() Stats {
	return Stats{
		RxFrames: c.rxFrames.Load(), RxBytes: c.rxBytes.Load(), RxTruncated: c.rxTrunc.Load(),
		RxShort: c.rxShort.Load(), RxCsumPartial: c.rxPartial.Load(), RxCsumValid: c.rxValid.Load(),
		RxGSO: c.rxGSO.Load(), TxFrames: c.txFrames.Load(), TxBytes: c.txBytes.Load(), TxErrors: c.txErrs.Load(),
	}
}

// Control runs fn with c's descriptor (syscall.RawConn.Control) unless the
// link is closed, for a driver's own queries. It is a function, not a
// method, so that it is not promoted into the drivers' Link API.
func Control(c *Core, fn func(fd uintptr)) error {
	if c.closed.Load() {
		return c.errf("control", driver.ErrClosed)
	}
	return c.rc.Control(fn)
}

// ReadBatch receives up to min(len(frames), Batch) frames. It blocks in the
// netpoller until a frame arrives, the deadline passes (0, nil; a past
// deadline polls once) or the link is closed (driver.ErrClosed). Frames that
// do not fit their buffer, or are shorter than the virtio-net header, are
// counted and dropped, never delivered cut.
func (c *Core) ReadBatch(frames [][]byte, n []int, meta []driver.RxMeta, deadline time.Time) (int, error) {
	k := min(len(frames), len(n), len(meta), c.cfg.Batch)
	if k == 0 {
		return 0, nil
	}
	if c.closed.Load() {
		return 0, c.errf("read", driver.ErrClosed)
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	rx := &c.rx
	rx.frames, rx.n, rx.meta = frames[:k], n, meta
	rx.got, rx.bytes, rx.err = 0, 0, nil
	err := pollRead(c.f, c.rc, c.rctl, c.rfn, c.rready, deadline)
	got, rerr := rx.got, rx.err
	c.rxFrames.Add(uint64(got))
	c.rxBytes.Add(rx.bytes)
	rx.frames, rx.n, rx.meta = nil, nil, nil
	if err != nil {
		if errors.Is(err, driver.ErrClosed) || c.closed.Load() {
			return 0, c.errf("read", driver.ErrClosed)
		}
		return 0, c.errf("read", err)
	}
	return got, rerr
}

// recv runs Config.Read until it delivers a frame (or, with Drain, fills the
// batch) or the descriptor is drained (EAGAIN, returns false when nothing
// was delivered, so the netpoller waits). Frames that are only counted never
// end a call on their own: with edge-triggered polling, stopping before
// EAGAIN could strand queued frames.
func (c *Core) recv(fd uintptr) bool {
	rx := &c.rx
	for rx.got < len(rx.frames) {
		switch e := c.cfg.Read(fd, rx); e {
		case 0, unix.EINTR:
		case unix.EAGAIN:
			return rx.got > 0
		default:
			rx.err = c.errf(c.cfg.ReadOp, e)
			return true
		}
		if rx.got > 0 && !c.cfg.Drain {
			return true
		}
	}
	return true
}

// Offered returns how many frames the caller's batch holds.
func (rx *Rx) Offered() int { return len(rx.frames) }

// Got returns how many frames have been delivered: the next free slot.
func (rx *Rx) Got() int { return rx.got }

// Frame returns the caller's buffer in slot i.
func (rx *Rx) Frame(i int) []byte { return rx.frames[i] }

// Lend puts b, a frame in the driver's own memory, in slot (slot >= Got())
// in place of the caller's buffer, for a driver that lends frames (see
// driver.LendingLink); Received then reports it.
func (rx *Rx) Lend(slot int, b []byte) { rx.frames[slot] = b }

// Received reports a frame Config.Read placed in slot (slot >= Got()): n
// bytes read, virtio-net header h included when the link has one; trunc
// says the system call flagged it as cut (MSG_TRUNC). A frame that did not
// fit its buffer or is shorter than the header is counted and dropped;
// otherwise it moves down to slot Got() if it is not there, its metadata
// comes from h, and it is delivered. It reports whether it delivered.
func (rx *Rx) Received(slot, n int, trunc bool, h *VnetHdr, now time.Time) bool {
	c := rx.c
	size := n - c.hdrLen
	switch {
	case trunc || size > len(rx.frames[slot]):
		c.rxTrunc.Add(1)
		return false
	case size < 0:
		c.rxShort.Add(1)
		return false
	}
	if slot != rx.got {
		copy(rx.frames[rx.got], rx.frames[slot][:size])
	}
	md := driver.RxMeta{Time: now}
	if c.cfg.Vnet {
		var gso bool
		md.CsumPartial, md.CsumValid, gso = rxVnetHdr(h)
		if md.CsumPartial {
			c.rxPartial.Add(1)
		}
		if md.CsumValid {
			c.rxValid.Add(1)
		}
		if gso {
			c.rxGSO.Add(1)
		}
	}
	rx.n[rx.got] = size
	rx.meta[rx.got] = md
	rx.bytes += uint64(size)
	rx.got++
	return true
}

// WriteBatch sends the frames, Batch at a time, each behind a virtio-net
// header when the link has one: zeroed for a plain frame, and for a
// super-frame (meta[i].GSO) one asking the kernel to complete the TCP
// checksum and cut it into gso_size segments (VIRTIO_NET_HDR_F_NEEDS_CSUM,
// VIRTIO_NET_HDR_GSO_TCPV4). Frames the kernel refuses are counted
// (TxErrors) and skipped; the first such error is returned after the rest
// of the batch is sent.
func (c *Core) WriteBatch(frames [][]byte, meta []driver.TxMeta) error {
	if c.closed.Load() {
		return c.errf("write", driver.ErrClosed)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	tx := &c.tx
	tx.first = nil
	defer func() { tx.frames, tx.meta = nil, nil }()
	for len(frames) > 0 {
		k := min(len(frames), c.cfg.Batch)
		m := min(len(meta), k)
		tx.frames, tx.meta, tx.sent = frames[:k], meta[:m], 0
		if err := c.rc.Write(c.wfn); err != nil {
			if errors.Is(err, os.ErrClosed) || c.closed.Load() {
				return c.errf("write", driver.ErrClosed)
			}
			return c.errf("write", err)
		}
		frames, meta = frames[k:], meta[m:]
	}
	return tx.first
}

// send runs Config.Write until every frame of tx is sent or refused; it
// returns false on EAGAIN so the netpoller waits for room.
func (c *Core) send(fd uintptr) bool {
	tx := &c.tx
	for tx.sent < len(tx.frames) {
		r, e := c.cfg.Write(fd, tx)
		if r > 0 {
			var bytes uint64
			for _, f := range tx.frames[tx.sent : tx.sent+r] {
				bytes += uint64(len(f))
			}
			tx.sent += r
			c.txFrames.Add(uint64(r))
			c.txBytes.Add(bytes)
		}
		switch e {
		case 0, unix.EINTR:
		case unix.EAGAIN:
			return false
		default:
			// The frame at sent was refused; count it, remember the first
			// error, move on.
			c.txErrs.Add(1)
			if tx.first == nil {
				tx.first = c.errf(c.cfg.WriteOp, e)
			}
			tx.sent++
		}
	}
	return true
}

// Frames returns the frames of the round being sent.
func (tx *Tx) Frames() [][]byte { return tx.frames }

// Sent returns how many of them the kernel has taken or refused: the next
// frame to send.
func (tx *Tx) Sent() int { return tx.sent }

// Hdr returns the virtio-net header to send before frame i: the shared
// zeroed header for a plain frame, or buf holding the frame's metadata
// (PutVnetHdr) for a super-frame.
func (tx *Tx) Hdr(i int, buf *VnetHdr) *VnetHdr {
	if i < len(tx.meta) && tx.meta[i] != (driver.TxMeta{}) {
		PutVnetHdr(buf, &tx.meta[i])
		return buf
	}
	return &tx.zero
}

// GSO reports whether frame i is a GSO super-frame (its metadata asks the
// kernel to cut it).
func (tx *Tx) GSO(i int) bool { return i < len(tx.meta) && tx.meta[i].GSO != stack.GSONone }

// SetIov points iov at b (a nil base for an empty b).
func SetIov(iov *unix.Iovec, b []byte) {
	if len(b) > 0 {
		iov.Base = &b[0]
	} else {
		iov.Base = nil
	}
	iov.SetLen(len(b))
}

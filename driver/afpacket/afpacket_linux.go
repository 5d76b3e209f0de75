//go:build linux

package afpacket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/fsm/wire"
)

// Link is an AF_PACKET SOCK_RAW socket bound to one interface. ReadBatch is
// for one goroutine at a time (calls are serialised), WriteBatch likewise;
// Close may be called from any goroutine.
type Link struct {
	iface    string
	mac      wire.MAC
	mtu      int
	maxFrame int
	batch    int
	vnet     bool
	hdrLen   int // vnetHdrLen or 0

	f      *os.File
	rc     syscall.RawConn
	closed atomic.Bool

	rmu    sync.Mutex // guards the receive state below
	rmsgs  []unix.Mmsghdr
	riov   [][2]unix.Iovec
	rhdr   [][vnetHdrLen]byte
	rname  []unix.RawSockaddrLinklayer
	rk     int // messages offered to recvmmsg
	rgot   int // frames delivered by the last recv
	rerr   error
	rframe [][]byte
	rn     []int
	rmeta  []driver.RxMeta
	rfn    func(fd uintptr) bool
	rctl   func(fd uintptr)
	rready func() bool

	wmu     sync.Mutex // guards the send state below
	wmsgs   []unix.Mmsghdr
	wiov    [][2]unix.Iovec
	whdr    [vnetHdrLen]byte   // zeroed: no offload requested
	wvhdr   [][vnetHdrLen]byte // per-message headers of super-frames
	wframes [][]byte
	wk      int
	wsent   int
	wfirst  error
	wfn     func(fd uintptr) bool

	rxFrames, rxBytes, rxTrunc, rxOut, rxShort, rxPartial, rxValid, rxGSO atomic.Uint64
	kdrops, txFrames, txBytes, txErrs                                     atomic.Uint64
}

var _ driver.Link = (*Link)(nil)

// Open opens an AF_PACKET link on iface in the calling thread's network
// namespace (see lab.RunInServerNS), bound to ETH_P_ALL on the interface's
// index, with PACKET_VNET_HDR unless opts.NoVnetHdr.
func Open(iface string, opts Options) (*Link, error) {
	ifi, err := interfaceByName(iface)
	if err != nil {
		return nil, err
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil, fmt.Errorf("afpacket: open %s: not an Ethernet interface (hardware address %q)", iface, ifi.HardwareAddr)
	}
	if opts.Batch <= 0 {
		opts.Batch = DefaultBatch
	}
	if opts.MaxFrame <= 0 {
		opts.MaxFrame = DefaultMaxFrame
	}
	if opts.RcvBuf == 0 {
		opts.RcvBuf = DefaultRcvBuf
	}
	l := &Link{
		iface:    iface,
		mtu:      ifi.MTU,
		maxFrame: opts.MaxFrame,
		batch:    opts.Batch,
		vnet:     !opts.NoVnetHdr,
	}
	copy(l.mac[:], ifi.HardwareAddr)
	if l.vnet {
		l.hdrLen = vnetHdrLen
	}
	// Protocol 0 at creation: nothing is received until bind names the interface.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, l.errf("socket", err)
	}
	if err := l.setup(fd, ifi.Index, opts); err != nil {
		unix.Close(fd)
		return nil, err
	}
	l.f = os.NewFile(uintptr(fd), "afpacket:"+iface)
	if err := l.f.SetReadDeadline(time.Time{}); err != nil {
		l.f.Close()
		return nil, l.errf("poll", err) // not pollable: deadlines would not work
	}
	if l.rc, err = l.f.SyscallConn(); err != nil {
		l.f.Close()
		return nil, l.errf("open", err)
	}
	l.rmsgs = make([]unix.Mmsghdr, l.batch)
	l.riov = make([][2]unix.Iovec, l.batch)
	l.rhdr = make([][vnetHdrLen]byte, l.batch)
	l.rname = make([]unix.RawSockaddrLinklayer, l.batch)
	l.wmsgs = make([]unix.Mmsghdr, l.batch)
	l.wiov = make([][2]unix.Iovec, l.batch)
	l.wvhdr = make([][vnetHdrLen]byte, l.batch)
	l.rfn = l.recv
	l.rctl = func(fd uintptr) { l.recv(fd) }
	l.rready = func() bool { return l.rgot > 0 || l.rerr != nil }
	l.wfn = l.send
	return l, nil
}

func (l *Link) setup(fd, ifindex int, opts Options) error {
	if l.vnet {
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
			return l.errf("setsockopt PACKET_VNET_HDR", err)
		}
	}
	// Linux >= 4.20; older kernels fall back to the PACKET_OUTGOING check in recv.
	_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
	if opts.RcvBuf > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, opts.RcvBuf); err != nil {
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, opts.RcvBuf); err != nil {
				return l.errf("setsockopt SO_RCVBUF", err)
			}
		}
	}
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}
	if err := unix.Bind(fd, sa); err != nil {
		return l.errf("bind", err)
	}
	if opts.Promisc {
		mreq := &unix.PacketMreq{Ifindex: int32(ifindex), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, mreq); err != nil {
			return l.errf("setsockopt PACKET_ADD_MEMBERSHIP", err)
		}
	}
	return nil
}

// interfaceByName looks iface up in the calling thread's namespace, telling a
// missing interface (ErrNoInterface) apart from a failed lookup.
func interfaceByName(iface string) (*net.Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("afpacket: open %s: list interfaces: %w", iface, err)
	}
	for i := range ifs {
		if ifs[i].Name == iface {
			return &ifs[i], nil
		}
	}
	return nil, fmt.Errorf("afpacket: open %s: %w", iface, ErrNoInterface)
}

func (l *Link) errf(op string, err error) error {
	return fmt.Errorf("afpacket: %s %s: %w", op, l.iface, err)
}

// MTU returns the interface's MTU, read at Open.
func (l *Link) MTU() int { return l.mtu }

// MaxFrame returns the largest frame ReadBatch delivers (GSO frames included).
func (l *Link) MaxFrame() int { return l.maxFrame }

// MAC returns the interface's hardware address, read at Open.
func (l *Link) MAC() wire.MAC { return l.mac }

// Close closes the socket; blocked ReadBatch calls return driver.ErrClosed.
func (l *Link) Close() error {
	if l.closed.Swap(true) {
		return nil
	}
	if err := l.f.Close(); err != nil {
		return l.errf("close", err)
	}
	return nil
}

// Stats returns the link's counters, including the kernel's drop count.
func (l *Link) Stats() Stats {
	if !l.closed.Load() {
		_ = l.rc.Control(func(fd uintptr) {
			// PACKET_STATISTICS resets on read, so accumulate.
			if st, err := unix.GetsockoptTpacketStats(int(fd), unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
				l.kdrops.Add(uint64(st.Drops))
			}
		})
	}
	return Stats{
		RxFrames: l.rxFrames.Load(), RxBytes: l.rxBytes.Load(), RxTruncated: l.rxTrunc.Load(),
		RxOutgoing: l.rxOut.Load(), RxShort: l.rxShort.Load(), RxCsumPartial: l.rxPartial.Load(),
		RxCsumValid: l.rxValid.Load(), RxGSO: l.rxGSO.Load(), KernelDrops: l.kdrops.Load(),
		TxFrames: l.txFrames.Load(), TxBytes: l.txBytes.Load(), TxErrors: l.txErrs.Load(),
	}
}

// ReadBatch receives up to min(len(frames), Batch) frames with one recvmmsg.
// It blocks in the netpoller until a frame arrives, the deadline passes
// (0, nil; a past deadline polls once) or the link is closed (ErrClosed).
func (l *Link) ReadBatch(frames [][]byte, n []int, meta []driver.RxMeta, deadline time.Time) (int, error) {
	k := min(len(frames), len(n), len(meta), l.batch)
	if k == 0 {
		return 0, nil
	}
	if l.closed.Load() {
		return 0, l.errf("read", driver.ErrClosed)
	}
	l.rmu.Lock()
	defer l.rmu.Unlock()
	l.prepareRecv(frames[:k], n, meta)
	defer func() { l.rframe, l.rn, l.rmeta = nil, nil, nil }()

	if err := driver.PollRead(l.f, l.rc, l.rctl, l.rfn, l.rready, deadline); err != nil {
		return 0, l.readErr(err)
	}
	return l.rgot, l.rerr
}

func (l *Link) readErr(err error) error {
	if errors.Is(err, driver.ErrClosed) || l.closed.Load() {
		return l.errf("read", driver.ErrClosed)
	}
	return l.errf("read", err)
}

// prepareRecv points the message headers at the caller's buffers.
func (l *Link) prepareRecv(frames [][]byte, n []int, meta []driver.RxMeta) {
	l.rk, l.rgot, l.rerr = len(frames), 0, nil
	l.rframe, l.rn, l.rmeta = frames, n, meta
	for i, f := range frames {
		iov := &l.riov[i]
		msg := &l.rmsgs[i].Hdr
		iov[0].Base = &l.rhdr[i][0]
		iov[0].SetLen(vnetHdrLen)
		if len(f) > 0 {
			iov[1].Base = &f[0]
		} else {
			iov[1].Base = nil
		}
		iov[1].SetLen(len(f))
		if l.vnet {
			msg.Iov = &iov[0]
			msg.SetIovlen(2)
		} else {
			msg.Iov = &iov[1]
			msg.SetIovlen(1)
		}
		msg.Name = (*byte)(unsafe.Pointer(&l.rname[i]))
	}
}

// recv runs recvmmsg until it delivers a frame or the socket is drained
// (EAGAIN, returns false so the netpoller waits). Frames that are only counted
// (looped-back, truncated) never end a call on their own: with edge-triggered
// polling, stopping before EAGAIN could strand queued frames.
func (l *Link) recv(fd uintptr) bool {
	for {
		for i := 0; i < l.rk; i++ {
			l.rmsgs[i].Hdr.Namelen = unix.SizeofSockaddrLinklayer
			l.rmsgs[i].Hdr.Flags = 0
			l.rmsgs[i].Len = 0
		}
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&l.rmsgs[0])), uintptr(l.rk), unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			l.rerr = l.errf("recvmmsg", e)
			return true
		}
		if l.collect(int(r), time.Now()) > 0 {
			return true
		}
	}
}

// collect turns r received messages into frames[0:got], compacting over the
// messages that are dropped (and counted).
func (l *Link) collect(r int, now time.Time) int {
	got := 0
	var bytes uint64
	for i := 0; i < r; i++ {
		m := &l.rmsgs[i]
		if l.rname[i].Pkttype == unix.PACKET_OUTGOING {
			l.rxOut.Add(1)
			continue
		}
		if m.Hdr.Flags&unix.MSG_TRUNC != 0 {
			l.rxTrunc.Add(1)
			continue
		}
		size := int(m.Len) - l.hdrLen
		if size < 0 {
			l.rxShort.Add(1)
			continue
		}
		if got != i {
			copy(l.rframe[got], l.rframe[i][:size])
		}
		md := driver.RxMeta{Time: now}
		if l.vnet {
			h := &l.rhdr[i]
			md.CsumPartial = h[0]&vnetFlagNeedsCsum != 0
			md.CsumValid = h[0]&vnetFlagDataValid != 0
			if md.CsumPartial {
				l.rxPartial.Add(1)
			}
			if md.CsumValid {
				l.rxValid.Add(1)
			}
			if h[1] != vnetGSONone {
				l.rxGSO.Add(1)
			}
		}
		l.rn[got] = size
		l.rmeta[got] = md
		bytes += uint64(size)
		got++
	}
	l.rgot = got
	l.rxFrames.Add(uint64(got))
	l.rxBytes.Add(bytes)
	return got
}

// WriteBatch sends the frames with sendmmsg, each behind a virtio-net header:
// zeroed for a plain frame, and for a super-frame (meta[i].GSO) one asking the
// kernel to complete the TCP checksum and cut it into gso_size segments
// (VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4). Frames the kernel
// refuses are counted (TxErrors) and skipped; the first such error is
// returned after the rest of the batch is sent.
func (l *Link) WriteBatch(frames [][]byte, meta []driver.TxMeta) error {
	return l.writeBatch(frames, meta, &l.whdr)
}

// GSOMaxSize is 65535 with PACKET_VNET_HDR (the kernel segments super-frames)
// and 0 without (driver.GSOLink).
func (l *Link) GSOMaxSize() int {
	if l.vnet {
		return 65535
	}
	return 0
}

// writeBatch sends frames behind the virtio-net header hdr, or the one meta
// gives a frame.
func (l *Link) writeBatch(frames [][]byte, meta []driver.TxMeta, hdr *[vnetHdrLen]byte) error {
	if l.closed.Load() {
		return l.errf("write", driver.ErrClosed)
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.wfirst = nil
	for len(frames) > 0 {
		k := min(len(frames), l.batch)
		for i, f := range frames[:k] {
			iov := &l.wiov[i]
			msg := &l.wmsgs[i].Hdr
			iov[0].Base = &hdr[0]
			if i < len(meta) && meta[i] != (driver.TxMeta{}) {
				driver.PutVnetHdr(l.wvhdr[i][:], &meta[i])
				iov[0].Base = &l.wvhdr[i][0]
			}
			iov[0].SetLen(vnetHdrLen)
			if len(f) > 0 {
				iov[1].Base = &f[0]
			} else {
				iov[1].Base = nil
			}
			iov[1].SetLen(len(f))
			if l.vnet {
				msg.Iov = &iov[0]
				msg.SetIovlen(2)
			} else {
				msg.Iov = &iov[1]
				msg.SetIovlen(1)
			}
			l.wmsgs[i].Len = 0
		}
		l.wframes = frames[:k]
		l.wk, l.wsent = k, 0
		if err := l.rc.Write(l.wfn); err != nil {
			if errors.Is(err, os.ErrClosed) || l.closed.Load() {
				return l.errf("write", driver.ErrClosed)
			}
			return l.errf("write", err)
		}
		frames = frames[k:]
		if len(meta) > k {
			meta = meta[k:]
		} else {
			meta = nil
		}
	}
	l.wframes = nil
	return l.wfirst
}

// send runs sendmmsg until all wk messages are sent, skipping (and counting)
// frames the kernel refuses; it returns false on EAGAIN so the netpoller
// waits for room.
func (l *Link) send(fd uintptr) bool {
	for l.wsent < l.wk {
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&l.wmsgs[l.wsent])), uintptr(l.wk-l.wsent), unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			var bytes uint64
			for _, f := range l.wframes[l.wsent : l.wsent+int(r)] {
				bytes += uint64(len(f))
			}
			l.wsent += int(r)
			l.txFrames.Add(uint64(r))
			l.txBytes.Add(bytes)
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		default:
			// The frame at wsent was refused; count it, remember the first error, move on.
			l.txErrs.Add(1)
			if l.wfirst == nil {
				l.wfirst = l.errf("sendmmsg", e)
			}
			l.wsent++
		}
	}
	return true
}

// htons converts a 16-bit value to network byte order.
func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}

//go:build linux

package afpacket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/driver/fdlink"
)

// Link is an AF_PACKET SOCK_RAW socket bound to one interface. The link core
// (fdlink.Core) gives it ReadBatch, WriteBatch, Close and the accessors;
// what is AF_PACKET's own is the socket's setup, recvmmsg/sendmmsg and the
// receive ring (ring_linux.go). ReadBatch is for one goroutine at a time
// (calls are serialised), WriteBatch likewise; Close may be called from any
// goroutine.
type Link struct {
	*fdlink.Core
	vnet bool
	ring *ring   // nil: recvmmsg
	tx   *txRing // nil: sendmmsg

	lentN   []int    // ReadLent's lengths
	lentBuf [][]byte // ReadLent's buffers without the ring, made on first use

	// receive messages, used under the core's receive lock
	rmsgs []unix.Mmsghdr
	riov  [][2]unix.Iovec
	rhdr  []fdlink.VnetHdr
	rname []unix.RawSockaddrLinklayer

	// send messages, used under the core's send lock
	wmsgs []unix.Mmsghdr
	wiov  [][2]unix.Iovec
	wvhdr []fdlink.VnetHdr // per-message headers of super-frames

	rxOut, kdrops atomic.Uint64
}

var _ driver.LendingLink = (*Link)(nil)

// Open opens an AF_PACKET link on iface in the calling thread's network
// namespace (see lab.RunInServerNS), bound to ETH_P_ALL on the interface's
// index, with PACKET_VNET_HDR unless opts.NoVnetHdr. Unless opts.Receive is
// ReceiveMmsg it also maps a receive ring, on a second socket bound after the first (see
// ring_linux.go), or logs why it cannot and uses recvmmsg.
func Open(iface string, opts Options) (*Link, error) {
	return open(iface, opts, nil)
}

// open is Open, joining the link's sockets to fan's groups when fan is not
// nil (fanout_linux.go).
func open(iface string, opts Options, fan *fanout) (*Link, error) {
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
	if opts.RcvBuf == 0 {
		opts.RcvBuf = DefaultRcvBuf
	}
	l := &Link{vnet: !opts.NoVnetHdr}
	if opts.Receive == ReceiveRing || opts.Receive == ReceiveDefault {
		if l.ring, err = newRing(iface, opts, l.vnet); err != nil {
			lg := opts.Logger
			if lg == nil {
				lg = slog.Default()
			}
			lg.Warn("afpacket: no receive ring, using recvmmsg", "iface", iface, "reason", err)
		} else {
			opts.RcvBuf = wakeRcvBuf // the first socket only wakes the reader
		}
	}
	fd, err := l.sockets(iface, ifi.Index, opts, fan)
	if err != nil {
		return nil, err
	}
	l.sendRing(iface, ifi.Index, ifi.MTU, opts)
	cfg := fdlink.Config{
		Driver: "afpacket", Name: iface, MTU: ifi.MTU,
		Batch: opts.Batch, MaxFrame: opts.MaxFrame, Vnet: l.vnet,
		Read: l.recv, ReadOp: "recvmmsg", Write: l.send, WriteOp: "sendmmsg",
	}
	if l.ring != nil {
		cfg.Read, cfg.ReadOp = l.ringRecv, "rx ring"
	}
	if l.tx != nil {
		cfg.Write, cfg.WriteOp = l.ringSend, "tx ring"
	}
	copy(cfg.MAC[:], ifi.HardwareAddr)
	if l.Core, err = fdlink.New(fd, cfg); err != nil {
		l.closeRings()
		return nil, err
	}
	l.lentN = make([]int, opts.Batch)
	l.rmsgs = make([]unix.Mmsghdr, opts.Batch)
	l.riov = make([][2]unix.Iovec, opts.Batch)
	l.rhdr = make([]fdlink.VnetHdr, opts.Batch)
	l.rname = make([]unix.RawSockaddrLinklayer, opts.Batch)
	l.wmsgs = make([]unix.Mmsghdr, opts.Batch)
	l.wiov = make([][2]unix.Iovec, opts.Batch)
	l.wvhdr = make([]fdlink.VnetHdr, opts.Batch)
	return l, nil
}

// sockets makes the link's socket (the wake socket when there is a ring)
// and binds it, then binds the ring's socket, joining each to fan's groups
// when fan is not nil. On failure it closes both and the ring.
func (l *Link) sockets(iface string, ifindex int, opts Options, fan *fanout) (int, error) {
	// Protocol 0 at creation: nothing is received until bind names the interface.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		err = errf("socket", iface, err)
	} else if err = l.setup(fd, iface, ifindex, opts); err == nil && fan != nil {
		// The wake (or only) socket joins before the ring socket binds,
		// so the ring's group stays first on the device's tap list.
		if err = fan.join(fd, l.ring == nil); err != nil {
			err = errf("fanout", iface, err)
		}
	}
	if err == nil && l.ring != nil {
		if err = l.ring.bind(ifindex, opts.Promisc); err != nil {
			err = errf("ring", iface, err)
		} else if fan != nil {
			if err = fan.join(l.ring.fd, true); err != nil {
				err = errf("fanout", iface, err)
			}
		}
	}
	if err != nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		l.closeRings()
		return -1, err
	}
	return fd, nil
}

// closeRings unmaps the rings the link has (and closes the receive ring's
// socket).
func (l *Link) closeRings() {
	if l.ring != nil {
		l.ring.close()
	}
	if l.tx != nil {
		l.tx.close()
	}
}

func (l *Link) setup(fd int, iface string, ifindex int, opts Options) error {
	if l.vnet {
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
			return errf("setsockopt PACKET_VNET_HDR", iface, err)
		}
	}
	// Linux >= 4.20; older kernels fall back to the PACKET_OUTGOING check in recv.
	_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
	if opts.RcvBuf > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, opts.RcvBuf); err != nil {
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, opts.RcvBuf); err != nil {
				return errf("setsockopt SO_RCVBUF", iface, err)
			}
		}
	}
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}
	if err := unix.Bind(fd, sa); err != nil {
		return errf("bind", iface, err)
	}
	if opts.Promisc && l.ring == nil {
		mreq := &unix.PacketMreq{Ifindex: int32(ifindex), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, mreq); err != nil {
			return errf("setsockopt PACKET_ADD_MEMBERSHIP", iface, err)
		}
	}
	return nil
}

// sendRing sets up the send ring unless opts asks for sendmmsg (or the
// NETSPEC_AFPACKET_SEND environment variable does, see Send); it logs why
// when it cannot, and the link then sends with sendmmsg alone.
func (l *Link) sendRing(iface string, ifindex, mtu int, opts Options) {
	if opts.Send == SendDefault && os.Getenv(SendEnv) == "mmsg" || opts.Send == SendMmsg {
		return
	}
	var err error
	if !l.vnet {
		err = errors.New("the send ring needs PACKET_VNET_HDR")
	} else if l.tx, err = newTxRing(ifindex, mtu, opts.TxRingFrames); err == nil {
		return
	}
	lg := opts.Logger
	if lg == nil {
		lg = slog.Default()
	}
	lg.Warn("afpacket: no send ring, using sendmmsg", "iface", iface, "reason", err)
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

// errf wraps an error of Open as the link core does its own.
func errf(op, iface string, err error) error {
	return fmt.Errorf("afpacket: %s %s: %w", op, iface, err)
}

// Stats returns the link's counters, including the kernel's drop count.
func (l *Link) Stats() Stats {
	st := Stats{Stats: l.Core.Stats(), RxOutgoing: l.rxOut.Load()}
	if t := l.tx; t != nil {
		st.TxRingFull = t.full.Load()
	}
	if r := l.ring; r != nil {
		// The wake socket drops by design; only the ring's drops count.
		r.stats(&l.kdrops)
		st.RingBad, st.RingBlocks, st.RingFreezes = r.bad.Load(), r.blocks.Load(), r.freezes.Load()
	} else {
		_ = fdlink.Control(l.Core, func(fd uintptr) {
			// PACKET_STATISTICS resets on read, so accumulate.
			if ts, err := unix.GetsockoptTpacketStats(int(fd), unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
				l.kdrops.Add(uint64(ts.Drops))
			}
		})
	}
	st.KernelDrops = l.kdrops.Load()
	return st
}

// Ring reports whether the link receives from a TPACKET_V3 ring (false:
// recvmmsg).
func (l *Link) Ring() bool { return l.ring != nil }

// TxRing reports whether the link sends through a TPACKET_V2 send ring
// (false: sendmmsg).
func (l *Link) TxRing() bool { return l.tx != nil }

// ReadBatch receives up to len(frames) frames (driver.Link; see
// fdlink.Core.ReadBatch).
func (l *Link) ReadBatch(frames [][]byte, n []int, meta []driver.RxMeta, deadline time.Time) (int, error) {
	if l.ring == nil {
		return l.Core.ReadBatch(frames, n, meta, deadline)
	}
	for {
		// Each sleep is bounded, so a wake-up the wake socket failed to
		// give costs at most ringMaxSleep (ring_linux.go).
		d := time.Now().Add(ringMaxSleep)
		last := !deadline.IsZero() && !deadline.After(d)
		if last {
			d = deadline
		}
		k, err := l.Core.ReadBatch(frames, n, meta, d)
		if k > 0 || err != nil || last {
			return k, err
		}
	}
}

// ReadLent receives up to len(frames) frames like ReadBatch but, with the
// ring, without copying them: frames[i] is the i-th frame where it lies in
// the ring, valid until the next ReadLent, ReadBatch or Close
// (driver.LendingLink). Without the ring it reads into buffers of its own
// and lends those.
func (l *Link) ReadLent(frames [][]byte, meta []driver.RxMeta, deadline time.Time) (int, error) {
	k := min(len(frames), len(meta), len(l.lentN))
	if l.ring == nil {
		if l.lentBuf == nil {
			l.lentBuf = make([][]byte, len(l.lentN))
			for i := range l.lentBuf {
				l.lentBuf[i] = make([]byte, l.MaxFrame())
			}
		}
		got, err := l.Core.ReadBatch(l.lentBuf[:k], l.lentN, meta, deadline)
		for i := range got {
			frames[i] = l.lentBuf[i][:l.lentN[i]]
		}
		return got, err
	}
	l.ring.lending = true
	got, err := l.ReadBatch(frames[:k], l.lentN, meta, deadline)
	l.ring.lending = false
	for i := range got {
		frames[i] = frames[i][:l.lentN[i]]
	}
	return got, err
}

// Close closes the link; a blocked ReadBatch returns driver.ErrClosed. The
// rings are unmapped once no reader or sender is in them.
func (l *Link) Close() error {
	err := l.Core.Close()
	l.closeRings()
	return err
}

// setIovs points a message at its virtio-net header (when the link has one)
// and its frame.
func (l *Link) setIovs(msg *unix.Msghdr, iov *[2]unix.Iovec, hdr *fdlink.VnetHdr, frame []byte) {
	iov[0].Base = &hdr[0]
	iov[0].SetLen(fdlink.VnetHdrLen)
	fdlink.SetIov(&iov[1], frame)
	if l.vnet {
		msg.Iov = &iov[0]
		msg.SetIovlen(2)
	} else {
		msg.Iov = &iov[1]
		msg.SetIovlen(1)
	}
}

// recv makes one recvmmsg into the free slots of rx (fdlink.Config.Read)
// and hands each message to rx.Received, dropping (and counting) our own
// transmissions looped back.
func (l *Link) recv(fd uintptr, rx *fdlink.Rx) unix.Errno {
	base := rx.Got()
	k := rx.Offered() - base
	for i := range k {
		msg := &l.rmsgs[i]
		l.setIovs(&msg.Hdr, &l.riov[i], &l.rhdr[i], rx.Frame(base+i))
		msg.Hdr.Name = (*byte)(unsafe.Pointer(&l.rname[i]))
		msg.Hdr.Namelen = unix.SizeofSockaddrLinklayer
		msg.Hdr.Flags = 0
		msg.Len = 0
	}
	r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&l.rmsgs[0])), uintptr(k), unix.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return e
	}
	now := time.Now()
	for i := range int(r) {
		m := &l.rmsgs[i]
		if l.rname[i].Pkttype == unix.PACKET_OUTGOING {
			l.rxOut.Add(1)
			continue
		}
		rx.Received(base+i, int(m.Len), m.Hdr.Flags&unix.MSG_TRUNC != 0, &l.rhdr[i], now)
	}
	return 0
}

// send makes one sendmmsg of the frames of tx from tx.Sent() on
// (fdlink.Config.Write without the send ring).
func (l *Link) send(fd uintptr, tx *fdlink.Tx) (int, unix.Errno) {
	return l.sendmmsg(fd, tx, len(tx.Frames()))
}

// sendmmsg makes one sendmmsg of the frames of tx from tx.Sent() up to
// end.
func (l *Link) sendmmsg(fd uintptr, tx *fdlink.Tx, end int) (int, unix.Errno) {
	base := tx.Sent()
	frames := tx.Frames()[base:end]
	for i, f := range frames {
		msg := &l.wmsgs[i]
		l.setIovs(&msg.Hdr, &l.wiov[i], tx.Hdr(base+i, &l.wvhdr[i]), f)
		msg.Len = 0
	}
	r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&l.wmsgs[0])), uintptr(len(frames)), unix.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), 0
}

// htons converts a 16-bit value to network byte order.
func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}

//go:build linux

package tap

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/fsm/wire"
)

// tunPath is the TUN/TAP clone device (Documentation/networking/tuntap.rst).
const tunPath = "/dev/net/tun"

// Link is a TAP device attached through /dev/net/tun. ReadBatch is for one
// goroutine at a time (calls are serialised), WriteBatch likewise; Close may
// be called from any goroutine.
type Link struct {
	name     string
	mac      wire.MAC // ours
	kmac     wire.MAC // the kernel side's
	mtu      int
	maxFrame int
	batch    int
	vnet     bool
	hdrLen   int // vnetHdrLen or 0
	iov0     int // first iovec of a readv/writev: 0 with the header, 1 without

	f      *os.File
	rc     syscall.RawConn
	closed atomic.Bool

	rmu    sync.Mutex    // guards the receive state below
	riov   [3]unix.Iovec // virtio-net header, frame, tail
	rhdr   [vnetHdrLen]byte
	rtail  [1]byte // receives the first byte past the caller's buffer
	rk     int     // frames the caller offered
	rgot   int     // frames delivered so far
	rerr   error
	rframe [][]byte
	rn     []int
	rmeta  []driver.RxMeta
	rfn    func(fd uintptr) bool
	rctl   func(fd uintptr)
	rready func() bool

	wmu     sync.Mutex // guards the send state below
	wiov    [2]unix.Iovec
	whdr    [vnetHdrLen]byte // zeroed: no offload requested
	wvhdr   [vnetHdrLen]byte // header of the super-frame being written
	wmeta   []driver.TxMeta  // metadata of wframes (nil: all plain)
	wframes [][]byte
	wsent   int
	wfirst  error
	wfn     func(fd uintptr) bool

	rxFrames, rxBytes, rxTrunc, rxShort, rxPartial, rxValid, rxGSO atomic.Uint64
	txFrames, txBytes, txErrs                                      atomic.Uint64
}

var _ driver.Link = (*Link)(nil)

// Open attaches to the TAP device name in the calling thread's network
// namespace (see lab.RunInServerNS), creating it unless opts.NoCreate. The
// device is set up (unless opts.NoUp); with the virtio-net header (unless
// opts.NoVnetHdr) the kernel is told which offloads the Link accepts
// (TUNSETOFFLOAD: pending checksums and TCPv4 super-frames, unless
// opts.NoOffload). Errors name the operation and the device and wrap
// ErrNoInterface, ErrNotTAP, ErrBusy or ErrPermission where those apply.
func Open(name string, opts Options) (*Link, error) {
	if name == "" || len(name) >= unix.IFNAMSIZ || strings.ContainsAny(name, "/: \t\n") {
		return nil, fmt.Errorf("tap: open %q: bad interface name", name)
	}
	if opts.Batch <= 0 {
		opts.Batch = DefaultBatch
	}
	if opts.MaxFrame <= 0 {
		opts.MaxFrame = DefaultMaxFrame
	}
	l := &Link{
		name:     name,
		maxFrame: opts.MaxFrame,
		batch:    opts.Batch,
		vnet:     !opts.NoVnetHdr,
	}
	if l.vnet {
		l.hdrLen = vnetHdrLen
	} else {
		l.iov0 = 1
	}
	existed, err := l.exists()
	if err != nil {
		return nil, err
	}
	if !existed && opts.NoCreate {
		return nil, l.errf("open", ErrNoInterface)
	}
	fd, err := unix.Open(tunPath, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("tap: open %s: %w (is the tun module loaded?)", tunPath, err)
		case errors.Is(err, fs.ErrPermission):
			return nil, fmt.Errorf("tap: open %s: %w", tunPath, ErrPermission)
		}
		return nil, fmt.Errorf("tap: open %s: %w", tunPath, err)
	}
	if err := l.attach(fd, existed, opts); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if err := l.configure(opts); err != nil {
		unix.Close(fd) // a device Open created (not persistent) goes with it
		return nil, err
	}
	l.f = os.NewFile(uintptr(fd), "tap:"+name)
	if err := l.f.SetReadDeadline(time.Time{}); err != nil {
		l.f.Close()
		return nil, l.errf("poll", err) // not pollable: deadlines would not work
	}
	if l.rc, err = l.f.SyscallConn(); err != nil {
		l.f.Close()
		return nil, l.errf("open", err)
	}
	l.rfn = l.recv
	l.rctl = func(fd uintptr) { l.recv(fd) }
	l.rready = func() bool { return l.rgot > 0 || l.rerr != nil }
	l.wfn = l.send
	return l, nil
}

// exists reports whether an interface called l.name exists in the caller's
// namespace.
func (l *Link) exists() (bool, error) {
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false, l.errf("socket", err)
	}
	defer unix.Close(s)
	ifr, err := unix.NewIfreq(l.name)
	if err != nil {
		return false, l.errf("open", err)
	}
	switch err := unix.IoctlIfreq(s, unix.SIOCGIFFLAGS, ifr); {
	case err == nil:
		return true, nil
	case errors.Is(err, unix.ENODEV):
		return false, nil
	default:
		return false, l.errf("SIOCGIFFLAGS", err)
	}
}

// attach binds fd to the device (TUNSETIFF), then sets the virtio-net header
// size, the offloads and persistence.
func (l *Link) attach(fd int, existed bool, opts Options) error {
	ifr, err := unix.NewIfreq(l.name)
	if err != nil {
		return l.errf("open", err)
	}
	flags := uint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if l.vnet {
		flags |= unix.IFF_VNET_HDR
	}
	ifr.SetUint16(flags)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		switch {
		case errors.Is(err, unix.EBUSY):
			return l.errf("attach", ErrBusy)
		case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
			return l.errf("attach", ErrPermission)
		case errors.Is(err, unix.EINVAL) && existed:
			return l.errf("attach", ErrNotTAP)
		}
		return l.errf("TUNSETIFF", err)
	}
	if got := ifr.Name(); got != l.name {
		return l.errf("attach", fmt.Errorf("kernel named the device %q", got))
	}
	offload := 0
	if l.vnet {
		if err := unix.IoctlSetPointerInt(fd, unix.TUNSETVNETHDRSZ, vnetHdrLen); err != nil {
			return l.errf("TUNSETVNETHDRSZ", err)
		}
		if !opts.NoOffload {
			offload = tunFCsum | tunFTSO4 | tunFTSO6
		}
	}
	// Always set: offloads are a property of the device and a persistent
	// device keeps those of its previous user, which this reader may not
	// be able to take (a pending checksum with no header to say so).
	if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, offload); err != nil {
		return l.errf("TUNSETOFFLOAD", err)
	}
	if opts.Persist {
		if err := unix.IoctlSetInt(fd, unix.TUNSETPERSIST, 1); err != nil {
			return l.errf("TUNSETPERSIST", err)
		}
	}
	return nil
}

// configure reads the kernel side's MAC and MTU, sets the device up and
// chooses the stack's MAC.
func (l *Link) configure(opts Options) error {
	ifi, err := net.InterfaceByName(l.name)
	if err != nil {
		return l.errf("open", err)
	}
	if len(ifi.HardwareAddr) != 6 {
		return l.errf("open", fmt.Errorf("%w: hardware address %q", ErrNotTAP, ifi.HardwareAddr))
	}
	copy(l.kmac[:], ifi.HardwareAddr)
	l.mtu = ifi.MTU
	if !opts.NoUp && ifi.Flags&net.FlagUp == 0 {
		if err := l.setUp(); err != nil {
			return err
		}
	}
	l.mac = opts.MAC
	if l.mac == (wire.MAC{}) {
		if l.mac, err = randomMAC(l.kmac); err != nil {
			return l.errf("open", err)
		}
	}
	return nil
}

// setUp sets IFF_UP on the device (SIOCSIFFLAGS, netdevice(7)).
func (l *Link) setUp() error {
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return l.errf("socket", err)
	}
	defer unix.Close(s)
	ifr, err := unix.NewIfreq(l.name)
	if err != nil {
		return l.errf("set up", err)
	}
	if err := unix.IoctlIfreq(s, unix.SIOCGIFFLAGS, ifr); err != nil {
		return l.errf("SIOCGIFFLAGS", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(s, unix.SIOCSIFFLAGS, ifr); err != nil {
		if errors.Is(err, unix.EPERM) {
			return l.errf("set up", ErrPermission)
		}
		return l.errf("SIOCSIFFLAGS", err)
	}
	return nil
}

// randomMAC returns a random locally administered unicast address (IEEE 802
// U/L bit set, I/G bit clear) different from avoid.
func randomMAC(avoid wire.MAC) (wire.MAC, error) {
	for {
		var m wire.MAC
		if _, err := rand.Read(m[:]); err != nil {
			return m, fmt.Errorf("random MAC: %w", err)
		}
		m[0] = m[0]&^0x01 | 0x02
		if m != avoid {
			return m, nil
		}
	}
}

func (l *Link) errf(op string, err error) error {
	return fmt.Errorf("tap: %s %s: %w", op, l.name, err)
}

// Name returns the device's name.
func (l *Link) Name() string { return l.name }

// MTU returns the device's MTU, read at Open.
func (l *Link) MTU() int { return l.mtu }

// MaxFrame returns the largest frame ReadBatch delivers (super-frames included).
func (l *Link) MaxFrame() int { return l.maxFrame }

// MAC returns the stack's address on the link (Options.MAC or a random one).
func (l *Link) MAC() wire.MAC { return l.mac }

// KernelMAC returns the kernel side's address: the stack's peer on the link.
func (l *Link) KernelMAC() wire.MAC { return l.kmac }

// Close detaches from the device; blocked ReadBatch calls return
// driver.ErrClosed. A device Open created without Options.Persist disappears.
func (l *Link) Close() error {
	if l.closed.Swap(true) {
		return nil
	}
	if err := l.f.Close(); err != nil {
		return l.errf("close", err)
	}
	return nil
}

// Stats returns the link's counters.
func (l *Link) Stats() Stats {
	return Stats{
		RxFrames: l.rxFrames.Load(), RxBytes: l.rxBytes.Load(), RxTruncated: l.rxTrunc.Load(),
		RxShort: l.rxShort.Load(), RxCsumPartial: l.rxPartial.Load(), RxCsumValid: l.rxValid.Load(),
		RxGSO: l.rxGSO.Load(), TxFrames: l.txFrames.Load(), TxBytes: l.txBytes.Load(), TxErrors: l.txErrs.Load(),
	}
}

//go:build linux

package tap

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/driver/fdlink"
	"github.com/netspec/netspec/fsm/wire"
)

// tunPath is the TUN/TAP clone device (Documentation/networking/tuntap.rst).
const tunPath = "/dev/net/tun"

// Link is a TAP device attached through /dev/net/tun. The link core
// (fdlink.Core) gives it ReadBatch, WriteBatch, Close and the accessors;
// what is TAP's own is attaching the device (TUNSETIFF and the TUN ioctls)
// and readv/writev. ReadBatch is for one goroutine at a time (calls are
// serialised), WriteBatch likewise; Close may be called from any goroutine.
// Close detaches from the device: a device Open created without
// Options.Persist disappears.
type Link struct {
	*fdlink.Core
	name string
	kmac wire.MAC // the kernel side's
	iov0 int      // first iovec of a readv/writev: 0 with the header, 1 without

	riov  [3]unix.Iovec // virtio-net header, frame, tail; under the core's receive lock
	rhdr  fdlink.VnetHdr
	rtail [1]byte // receives the first byte past the caller's buffer

	wiov  [2]unix.Iovec  // under the core's send lock
	wvhdr fdlink.VnetHdr // header of the super-frame being written
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
	l := &Link{name: name}
	if opts.NoVnetHdr {
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
	mac, mtu, err := l.configure(opts)
	if err != nil {
		unix.Close(fd) // a device Open created (not persistent) goes with it
		return nil, err
	}
	l.Core, err = fdlink.New(fd, fdlink.Config{
		Driver: "tap", Name: name, MAC: mac, MTU: mtu,
		Batch: opts.Batch, MaxFrame: opts.MaxFrame, Vnet: !opts.NoVnetHdr, Drain: true,
		Read: l.recv, ReadOp: "readv", Write: l.send, WriteOp: "writev",
	})
	if err != nil {
		return nil, err
	}
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
	if !opts.NoVnetHdr {
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
	if !opts.NoVnetHdr {
		if err := unix.IoctlSetPointerInt(fd, unix.TUNSETVNETHDRSZ, fdlink.VnetHdrLen); err != nil {
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

// configure reads the kernel side's MAC and the MTU, sets the device up and
// returns the stack's MAC and the MTU.
func (l *Link) configure(opts Options) (wire.MAC, int, error) {
	ifi, err := net.InterfaceByName(l.name)
	if err != nil {
		return wire.MAC{}, 0, l.errf("open", err)
	}
	if len(ifi.HardwareAddr) != 6 {
		return wire.MAC{}, 0, l.errf("open", fmt.Errorf("%w: hardware address %q", ErrNotTAP, ifi.HardwareAddr))
	}
	copy(l.kmac[:], ifi.HardwareAddr)
	if !opts.NoUp && ifi.Flags&net.FlagUp == 0 {
		if err := l.setUp(); err != nil {
			return wire.MAC{}, 0, err
		}
	}
	if opts.MAC != (wire.MAC{}) {
		return opts.MAC, ifi.MTU, nil
	}
	mac, err := randomMAC(l.kmac)
	if err != nil {
		return wire.MAC{}, 0, l.errf("open", err)
	}
	return mac, ifi.MTU, nil
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

// KernelMAC returns the kernel side's address: the stack's peer on the link.
func (l *Link) KernelMAC() wire.MAC { return l.kmac }

//go:build linux

package tap

import (
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/netspec/netspec/driver/fdlink"
)

// recv makes one readv(2) into the next free slot of rx
// (fdlink.Config.Read): the virtio-net header, the frame and a one-byte tail.
// read(2) on a TAP device returns min(frame, buffer) and drops the rest
// silently; a byte in the tail means the frame did not fit, which
// rx.Received counts as truncated.
func (l *Link) recv(fd uintptr, rx *fdlink.Rx) unix.Errno {
	slot := rx.Got()
	iov := &l.riov
	iov[0].Base = &l.rhdr[0]
	iov[0].SetLen(fdlink.VnetHdrLen)
	fdlink.SetIov(&iov[1], rx.Frame(slot))
	iov[2].Base = &l.rtail[0]
	iov[2].SetLen(len(l.rtail))
	r, _, e := unix.Syscall(unix.SYS_READV, fd, uintptr(unsafe.Pointer(&iov[l.iov0])), uintptr(3-l.iov0))
	if e != 0 {
		return e
	}
	rx.Received(slot, int(r), false, &l.rhdr, time.Now())
	return 0
}

// send makes one writev(2) of the frame at tx.Sent() behind its virtio-net
// header (fdlink.Config.Write). The kernel refuses a frame shorter than an
// Ethernet header (EINVAL) or one written while the device is down (EIO).
func (l *Link) send(fd uintptr, tx *fdlink.Tx) (int, unix.Errno) {
	i := tx.Sent()
	iov := &l.wiov
	iov[0].Base = &tx.Hdr(i, &l.wvhdr)[0]
	iov[0].SetLen(fdlink.VnetHdrLen)
	fdlink.SetIov(&iov[1], tx.Frames()[i])
	_, _, e := unix.Syscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&iov[l.iov0])), uintptr(2-l.iov0))
	if e != 0 {
		return 0, e
	}
	return 1, 0
}

//go:build linux

package tap

import (
	"errors"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/netspec/netspec/driver"
)

// ReadBatch reads up to min(len(frames), Batch) frames, one readv(2) each,
// until the device has nothing more queued. It blocks in the netpoller until
// a frame arrives, the deadline passes (0, nil; a past deadline polls once) or
// the link is closed (ErrClosed).
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
	l.rk, l.rgot, l.rerr = k, 0, nil
	l.rframe, l.rn, l.rmeta = frames, n, meta
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

// recv reads frames until the batch is full or the device is drained
// (EAGAIN). It returns false only when nothing was delivered, so the
// netpoller waits; frames that are only counted (truncated, short) never end
// a call on their own, since stopping before EAGAIN could strand queued frames
// under edge-triggered polling.
func (l *Link) recv(fd uintptr) bool {
	for l.rgot < l.rk {
		f := l.rframe[l.rgot]
		iov := &l.riov
		iov[0].Base = &l.rhdr[0]
		iov[0].SetLen(vnetHdrLen)
		if len(f) > 0 {
			iov[1].Base = &f[0]
		} else {
			iov[1].Base = nil
		}
		iov[1].SetLen(len(f))
		iov[2].Base = &l.rtail[0]
		iov[2].SetLen(len(l.rtail))
		r, _, e := unix.Syscall(unix.SYS_READV, fd, uintptr(unsafe.Pointer(&iov[l.iov0])), uintptr(3-l.iov0))
		switch e {
		case 0:
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return l.rgot > 0
		default:
			l.rerr = l.errf("readv", e)
			return true
		}
		// read(2) on a TAP device returns min(frame, buffer) and drops the
		// rest silently; a byte in the tail iovec means the frame did not fit.
		size := int(r) - l.hdrLen
		switch {
		case size < 0:
			l.rxShort.Add(1)
			continue
		case size > len(f):
			l.rxTrunc.Add(1)
			continue
		}
		md := driver.RxMeta{Time: time.Now()}
		if l.vnet {
			h := &l.rhdr
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
		l.rn[l.rgot] = size
		l.rmeta[l.rgot] = md
		l.rgot++
		l.rxFrames.Add(1)
		l.rxBytes.Add(uint64(size))
	}
	return true
}

// WriteBatch writes the frames, one writev(2) each behind a virtio-net
// header: zeroed for a plain frame, and for a super-frame (meta[i].GSO) one
// asking the kernel to complete the TCP checksum and segment it
// (VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4). Frames the kernel
// refuses are counted (TxErrors) and skipped; the first such error is
// returned after the rest of the batch is written.
func (l *Link) WriteBatch(frames [][]byte, meta []driver.TxMeta) error {
	if l.closed.Load() {
		return l.errf("write", driver.ErrClosed)
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.wframes, l.wmeta, l.wsent, l.wfirst = frames, meta, 0, nil
	defer func() { l.wframes, l.wmeta = nil, nil }()
	if err := l.rc.Write(l.wfn); err != nil {
		if errors.Is(err, os.ErrClosed) || l.closed.Load() {
			return l.errf("write", driver.ErrClosed)
		}
		return l.errf("write", err)
	}
	return l.wfirst
}

// GSOMaxSize is 65535 with IFF_VNET_HDR (the kernel segments super-frames)
// and 0 without (driver.GSOLink).
func (l *Link) GSOMaxSize() int {
	if l.vnet {
		return 65535
	}
	return 0
}

// send writes frames from wsent on; it returns false on EAGAIN so the
// netpoller waits for room.
func (l *Link) send(fd uintptr) bool {
	iov := &l.wiov
	iov[0].SetLen(vnetHdrLen)
	for l.wsent < len(l.wframes) {
		f := l.wframes[l.wsent]
		iov[0].Base = &l.whdr[0]
		if l.wsent < len(l.wmeta) && l.wmeta[l.wsent] != (driver.TxMeta{}) {
			driver.PutVnetHdr(l.wvhdr[:], &l.wmeta[l.wsent])
			iov[0].Base = &l.wvhdr[0]
		}
		if len(f) > 0 {
			iov[1].Base = &f[0]
		} else {
			iov[1].Base = nil
		}
		iov[1].SetLen(len(f))
		_, _, e := unix.Syscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&iov[l.iov0])), uintptr(2-l.iov0))
		switch e {
		case 0:
			l.txFrames.Add(1)
			l.txBytes.Add(uint64(len(f)))
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		default:
			// Refused (EINVAL: shorter than an Ethernet header; EIO: device
			// down); count it, remember the first error, move on.
			l.txErrs.Add(1)
			if l.wfirst == nil {
				l.wfirst = l.errf("writev", e)
			}
		}
		l.wsent++
	}
	return true
}

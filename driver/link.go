// Package driver connects the pure protocol core (fsm/stack) to the world: link
// drivers move batches of frames, and Loop runs one stack on one goroutine,
// serialising user calls from the socket API (driver/netconn).
package driver

import (
	"time"

	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fsm/wire"
)

// RxMeta is the metadata a driver delivers with each received frame; it is
// defined next to the stack that consumes it.
type RxMeta = stack.RxMeta

// TxMeta is the metadata the stack hands out with each outgoing frame (zero: a
// plain frame; otherwise a super-frame to segment, see stack.TxMeta).
type TxMeta = stack.TxMeta

// Link is a network interface seen by the stack: it moves batches of complete
// Ethernet frames. Drivers (afpacket, pipe, tap) implement it; all protocol
// logic lives above it.
type Link interface {
	// ReadBatch fills frames[i] (each a buffer of MaxFrame bytes) and returns how
	// many frames it read, with their lengths in n[i] and metadata in meta[i]. It
	// blocks until at least one frame arrives, the deadline passes (0, nil), or the
	// link is closed (0, ErrClosed). A zero deadline means no deadline.
	ReadBatch(frames [][]byte, n []int, meta []RxMeta, deadline time.Time) (int, error)
	// WriteBatch sends complete Ethernet frames, in order. meta is nil (every
	// frame plain) or holds each frame's metadata: a super-frame (meta[i].GSO)
	// leaves as the segments it stands for, cut by the kernel (afpacket, tap)
	// or by stack.Segment (pipe).
	WriteBatch(frames [][]byte, meta []TxMeta) error
	// MTU is the largest IP datagram the link carries in one frame.
	MTU() int
	// MaxFrame is the largest frame ReadBatch can deliver (larger than MTU+14 when
	// the driver accepts GSO/TSO super-frames).
	MaxFrame() int
	// MAC is the link's hardware address.
	MAC() wire.MAC
	// Close releases the link; blocked ReadBatch calls return ErrClosed.
	Close() error
}

// LendingLink is implemented by links that can deliver received frames
// where they lie, in the driver's own memory (a receive ring), instead of
// copying them into the caller's buffers. The Loop reads with ReadLent when
// its link offers it.
type LendingLink interface {
	Link
	// ReadLent is ReadBatch without buffers: it sets frames[i] to the i-th
	// frame received, exactly its length, and meta[i] to its metadata. The
	// frames are lent: valid until the next ReadLent, ReadBatch or Close.
	ReadLent(frames [][]byte, meta []RxMeta, deadline time.Time) (int, error)
}

// GSOLink is implemented by links that accept TCP super-frames. GSOMaxSize is
// the largest IP datagram they take in one (0: none); it is what
// stack.Config.GSOMaxSize should be set to. Such a link also completes the
// checksum of any frame whose TxMeta.NeedsCsum is set, super-frame or not
// (as virtio-net's VIRTIO_NET_HDR_F_NEEDS_CSUM): the stack then leaves
// every TCP checksum to it.
type GSOLink interface {
	GSOMaxSize() int
}

// GSOMaxSize returns link's GSOMaxSize if it implements GSOLink, else 0.
func GSOMaxSize(link Link) int {
	if g, ok := link.(GSOLink); ok {
		return g.GSOMaxSize()
	}
	return 0
}

// Wrapper is a Link that passes frames to and from another Link, changing
// or recording them on the way (a capture, a fault injector). Unwrap
// returns the link it wraps, so its owner can still read that link's own
// statistics.
type Wrapper interface {
	Unwrap() Link
}

// Unwrap returns the links under link, link first, following Wrapper until
// a link that wraps nothing.
func Unwrap(link Link) []Link {
	links := []Link{link}
	for {
		w, ok := link.(Wrapper)
		if !ok {
			return links
		}
		if link = w.Unwrap(); link == nil {
			return links
		}
		links = append(links, link)
	}
}

// ErrClosed is returned by a Link after Close.
var ErrClosed = errClosed{}

type errClosed struct{}

func (errClosed) Error() string { return "link closed" }

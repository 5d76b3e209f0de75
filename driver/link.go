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

// Link is a network interface seen by the stack: it moves batches of complete
// Ethernet frames. Drivers (afpacket, pipe, tap) implement it; all protocol
// logic lives above it.
type Link interface {
	// ReadBatch fills frames[i] (each a buffer of MaxFrame bytes) and returns how
	// many frames it read, with their lengths in n[i] and metadata in meta[i]. It
	// blocks until at least one frame arrives, the deadline passes (0, nil), or the
	// link is closed (0, ErrClosed). A zero deadline means no deadline.
	ReadBatch(frames [][]byte, n []int, meta []RxMeta, deadline time.Time) (int, error)
	// WriteBatch sends complete Ethernet frames, in order.
	WriteBatch(frames [][]byte) error
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

// ErrClosed is returned by a Link after Close.
var ErrClosed = errClosed{}

type errClosed struct{}

func (errClosed) Error() string { return "link closed" }

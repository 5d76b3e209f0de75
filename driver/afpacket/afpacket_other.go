//go:build !linux

package afpacket

import (
	"time"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/fsm/wire"
)

// Link is an AF_PACKET link; on this system it cannot be opened.
type Link struct{}

var _ driver.Link = (*Link)(nil)

// Open returns ErrNotSupported: AF_PACKET exists only on Linux.
func Open(iface string, opts Options) (*Link, error) { return nil, ErrNotSupported }

// ReadBatch returns ErrNotSupported.
func (l *Link) ReadBatch(frames [][]byte, n []int, meta []driver.RxMeta, deadline time.Time) (int, error) {
	return 0, ErrNotSupported
}

// WriteBatch returns ErrNotSupported.
func (l *Link) WriteBatch(frames [][]byte, meta []driver.TxMeta) error { return ErrNotSupported }

// GSOMaxSize is 0: nothing is sent.
func (l *Link) GSOMaxSize() int { return 0 }

// MTU returns 0.
func (l *Link) MTU() int { return 0 }

// MaxFrame returns 0.
func (l *Link) MaxFrame() int { return 0 }

// MAC returns the zero address.
func (l *Link) MAC() wire.MAC { return wire.MAC{} }

// Close does nothing.
func (l *Link) Close() error { return nil }

// Stats returns zero counters.
func (l *Link) Stats() Stats { return Stats{} }

//go:build !linux

package fdlink

import (
	"time"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/fsm/wire"
)

// Core is the part of an fd-based link every driver shares; on this system
// no driver opens one, so every method reports that.
type Core struct{}

// Name returns "".
func (c *Core) Name() string { return "" }

// MTU returns 0.
func (c *Core) MTU() int { return 0 }

// MaxFrame returns 0.
func (c *Core) MaxFrame() int { return 0 }

// MAC returns the zero address.
func (c *Core) MAC() wire.MAC { return wire.MAC{} }

// GSOMaxSize is 0: nothing is sent.
func (c *Core) GSOMaxSize() int { return 0 }

// Close does nothing.
func (c *Core) Close() error { return nil }

// Stats returns zero counters.
func (c *Core) Stats() Stats { return Stats{} }

// ReadBatch returns an error: not supported on this system.
func (c *Core) ReadBatch(frames [][]byte, n []int, meta []driver.RxMeta, deadline time.Time) (int, error) {
	return 0, errNotSupported
}

// WriteBatch returns an error: not supported on this system.
func (c *Core) WriteBatch(frames [][]byte, meta []driver.TxMeta) error { return errNotSupported }

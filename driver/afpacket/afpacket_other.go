//go:build !linux

package afpacket

import (
	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/driver/fdlink"
)

// Link is an AF_PACKET link; on this system it cannot be opened.
type Link struct {
	*fdlink.Core
}

var _ driver.Link = (*Link)(nil)

// Open returns ErrNotSupported: AF_PACKET exists only on Linux.
func Open(iface string, opts Options) (*Link, error) { return nil, ErrNotSupported }

// Stats returns zero counters.
func (l *Link) Stats() Stats { return Stats{} }

// Ring reports false: there is no receive ring.
func (l *Link) Ring() bool { return false }

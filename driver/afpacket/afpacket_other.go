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

// Group is a fanout group of Links; on this system it cannot be opened.
type Group struct {
	// Links are the members.
	Links []*Link
}

// MaxGroup is the most Links a Group may have.
const MaxGroup = 256

// OpenGroup returns ErrNotSupported: AF_PACKET exists only on Linux.
func OpenGroup(iface string, n int, opts Options) (*Group, error) { return nil, ErrNotSupported }

// Shard returns 0.
func (g *Group) Shard(a, b uint16) int { return 0 }

// Close does nothing.
func (g *Group) Close() error { return nil }

// TxRing reports false: there is no send ring.
func (l *Link) TxRing() bool { return false }

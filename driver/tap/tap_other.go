//go:build !linux

package tap

import (
	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/driver/fdlink"
	"github.com/netspec/netspec/fsm/wire"
)

// Link is a TAP link; on this system it cannot be opened.
type Link struct {
	*fdlink.Core
}

var _ driver.Link = (*Link)(nil)

// Open returns ErrNotSupported: /dev/net/tun exists only on Linux.
func Open(name string, opts Options) (*Link, error) { return nil, ErrNotSupported }

// KernelMAC returns the zero address.
func (l *Link) KernelMAC() wire.MAC { return wire.MAC{} }

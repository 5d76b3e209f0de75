package netspec

import (
	"net/netip"

	"github.com/netspec/netspec/driver/pipe"
	"github.com/netspec/netspec/fsm/wire"
)

// Faults are the seeded impairments of one direction of a Pipe: per-frame
// probabilities of loss, duplication, reordering and corruption (one
// flipped bit), a delay, and CE marking (driver/pipe.Faults). The same seed
// and the same frames give the same decisions.
type Faults = pipe.Faults

// PipeConfig describes an in-memory pair of stacks. The zero value (or a
// nil *PipeConfig) is two stacks, 198.18.0.1/24 and 198.18.0.2/24, on a
// perfect 1500-byte link.
type PipeConfig struct {
	// A and B are the stacks' addresses (zero: 198.18.0.1/24, 198.18.0.2/24).
	A, B netip.Prefix
	// AOptions and BOptions configure each stack (nil: defaults). Driver is
	// ignored; MAC, if set, is also the pipe end's address.
	AOptions, BOptions *Options
	// AtoB and BtoA impair the frames A sends to B and B sends to A.
	AtoB, BtoA Faults
	// MTU is the link's MTU (0: 1500).
	MTU int
	// QueueLen bounds the frames each direction buffers (0:
	// pipe.DefaultQueueLen); a frame sent to a full queue is dropped and
	// counted (pipe.Stats.DropQueueFull).
	QueueLen int
}

// Default addresses of the two ends of a Pipe.
var (
	pipeAddrA = netip.MustParsePrefix("198.18.0.1/24")
	pipeAddrB = netip.MustParsePrefix("198.18.0.2/24")
)

// Pipe returns two stacks joined by an in-memory link (driver/pipe), each
// with its own event loop, for tests and simulations: what one sends the
// other receives, through cfg's faults. They listen and dial as stacks on
// an interface do. Close both when done.
func Pipe(cfg *PipeConfig) (a, b *Stack, err error) {
	var c PipeConfig
	if cfg != nil {
		c = *cfg
	}
	if !c.A.IsValid() {
		c.A = pipeAddrA
	}
	if !c.B.IsValid() {
		c.B = pipeAddrB
	}
	if err := Check(c.A, c.AOptions); err != nil {
		return nil, nil, err
	}
	if err := Check(c.B, c.BOptions); err != nil {
		return nil, nil, err
	}
	if c.A.Addr() == c.B.Addr() {
		return nil, nil, configErr("addr", "both ends have address %s", c.A.Addr())
	}
	pc := pipe.Config{MTU: c.MTU, QueueLen: c.QueueLen, AtoB: c.AtoB, BtoA: c.BtoA}
	if o := c.AOptions; o != nil && o.MAC != nil {
		pc.MACA = wire.MAC(o.MAC)
	}
	if o := c.BOptions; o != nil && o.MAC != nil {
		pc.MACB = wire.MAC(o.MAC)
	}
	ea, eb := pipe.New(pc)
	if a, err = New(ea, c.A, c.AOptions); err != nil {
		eb.Close()
		return nil, nil, err
	}
	if b, err = New(eb, c.B, c.BOptions); err != nil {
		a.Close()
		return nil, nil, err
	}
	return a, b, nil
}

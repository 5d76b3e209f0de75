package sim

import (
	"container/heap"
	"time"
)

// Fault is one impairment of a frame.
type Fault uint8

// The faults the wire applies, at random (Faults) or forced (Sim.Force).
const (
	FaultNone      Fault = iota
	FaultLoss            // the frame is dropped
	FaultDuplicate       // the frame is delivered twice
	FaultReorder         // the frame is held back by ReorderHold, so later frames overtake it
	FaultCorrupt         // one random bit of the frame is flipped
)

// String names the fault.
func (f Fault) String() string {
	switch f {
	case FaultLoss:
		return "loss"
	case FaultDuplicate:
		return "duplicate"
	case FaultReorder:
		return "reorder"
	case FaultCorrupt:
		return "corrupt"
	}
	return "none"
}

// Faults are the wire's random impairments, drawn per frame from the
// simulation's seeded source.
type Faults struct {
	// Loss, Duplicate, Reorder and Corrupt are per-frame probabilities.
	Loss, Duplicate, Reorder, Corrupt float64
	// Delay is every frame's one-way latency (default 1 ms); Jitter adds a
	// uniform random extra in [0, Jitter).
	Delay, Jitter time.Duration
	// ReorderHold is the extra delay of a reordered frame (default 5 ms).
	ReorderHold time.Duration
	// ARP subjects ARP frames to the random faults too. Off by default: a
	// lost ARP reply holds a stack's frames for a one-second retry, which
	// the delayed-ACK check would report as a held ACK.
	ARP bool
}

// inflight is a frame on the wire.
type inflight struct {
	at   time.Time
	seq  uint64
	from int
	b    []byte
}

// frameHeap orders frames by delivery time, then by the order sent.
type frameHeap []*inflight

func (h frameHeap) Len() int { return len(h) }
func (h frameHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h frameHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *frameHeap) Push(x any)   { *h = append(*h, x.(*inflight)) }
func (h *frameHeap) Pop() any {
	old := *h
	n := len(old)
	x := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return x
}

// transmit puts a copy of frame on the wire, impaired by the forced fault
// queue first, then by the random faults. Every frame draws the same random
// numbers whatever the outcome, so one fault does not shift later ones.
func (s *Sim) transmit(from int, frame []byte) {
	f := &s.cfg.Faults
	delay := f.Delay
	if delay <= 0 {
		delay = time.Millisecond
	}
	hold := f.ReorderHold
	if hold <= 0 {
		hold = 5 * time.Millisecond
	}
	rLoss, rDup, rReord, rCorr := s.rng.Float64(), s.rng.Float64(), s.rng.Float64(), s.rng.Float64()
	jit := s.rng.Float64()
	bit := s.rng.IntN(len(frame) * 8)
	fault := FaultNone
	if len(s.forced) > 0 {
		fault = s.forced[0]
		s.forced = s.forced[1:]
	} else if f.ARP || !isARP(frame) {
		switch {
		case rLoss < f.Loss:
			fault = FaultLoss
		case rDup < f.Duplicate:
			fault = FaultDuplicate
		case rReord < f.Reorder:
			fault = FaultReorder
		case rCorr < f.Corrupt:
			fault = FaultCorrupt
		}
	}
	if s.part {
		fault = FaultLoss
	}
	at := s.now.Add(delay + time.Duration(jit*float64(f.Jitter)))
	copies := 1
	switch fault {
	case FaultLoss:
		s.stats.Lost++
		return
	case FaultDuplicate:
		s.stats.Duplicated++
		copies = 2
	case FaultReorder:
		s.stats.Reordered++
		at = at.Add(hold)
	}
	for i := 0; i < copies; i++ {
		if len(s.wire) >= s.cfg.MaxInFlight {
			s.stats.Overflow++
			return
		}
		b := append([]byte(nil), frame...)
		if fault == FaultCorrupt {
			b[bit/8] ^= 1 << (bit % 8)
			s.stats.Corrupted++
		}
		s.seq++
		heap.Push(&s.wire, &inflight{at: at, seq: s.seq, from: from, b: b})
	}
}

// isARP reports whether frame carries ARP.
func isARP(frame []byte) bool {
	return len(frame) >= 14 && frame[12] == 0x08 && frame[13] == 0x06
}

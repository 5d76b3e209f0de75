package model

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Bounds limit the explored behaviours. Every counter they bound is part of
// the state and only grows within a run, which keeps the graph finite.
type Bounds struct {
	Cap      int // segments in flight per direction (1..MaxCap)
	Loss     int // segments the channel may lose, in total
	Dup      int // segments the channel may duplicate, in total
	Reorder  int // deliveries of a segment other than the oldest, in total
	Opens    int // OPEN calls (active or passive) per endpoint
	Data     int // SEND calls per endpoint (one data unit each)
	Aborts   int // ABORT calls per endpoint
	Closes   int // CloseWrite calls on an open connection, per endpoint (a full Close is always possible once per connection)
	Rtx      int // retransmissions of one flight before R2 (TimeoutUser, MUST-20)
	Window   int // receive window in data units
	Eager    int // 1: the retransmission timer may fire while segments are in flight
	Inject   int // segments the environment may inject (inject.go), in total
	OowLimit int // 1: ACKs for unacceptable segments are rate-limited (tcp.Config.OOWAckInterval)
	// MaxStates stops the search after this many states (0: no limit); the
	// result is then marked incomplete and the graph properties are skipped.
	MaxStates int
}

// DefaultBounds are the bounds of the check that runs in `make test`.
func DefaultBounds() Bounds {
	return Bounds{Cap: 2, Loss: 1, Dup: 0, Reorder: 1, Opens: 1, Data: 1, Aborts: 1, Closes: 1, Rtx: 2, Window: 4}
}

// DeepBounds are the bounds of the deep client/server run of `make check`
// (DeepRuns).
func DeepBounds() Bounds {
	return Bounds{Cap: 3, Loss: 1, Dup: 1, Reorder: 1, Opens: 1, Data: 1, Aborts: 1, Closes: 1, Rtx: 2, Window: 4, MaxStates: 30000000}
}

// Validate reports bounds the model cannot represent, or that make the
// graceful-termination property meaningless.
func (b Bounds) Validate() error {
	switch {
	case b.Cap < 1 || b.Cap > MaxCap:
		return fmt.Errorf("model: cap %d out of range 1..%d", b.Cap, MaxCap)
	case b.Loss < 0 || b.Dup < 0 || b.Reorder < 0 || b.Opens < 0 || b.Data < 0 || b.Aborts < 0 || b.Closes < 0:
		return errors.New("model: negative bound")
	case b.Loss > 200 || b.Dup > 200 || b.Reorder > 200 || b.Opens > 5 || b.Data > 4 || b.Aborts > 200 || b.Closes > 200:
		return errors.New("model: bound too large for the state encoding (opens <= 5, data <= 4)")
	case b.Rtx < 1 || b.Rtx > 200:
		return fmt.Errorf("model: rtx %d out of range 1..200", b.Rtx)
	case b.Rtx <= b.Loss+b.Inject:
		// With no more retransmissions than faults (losses, and injected
		// segments, which may end a connection), R2 may be the only way out
		// of a legal run, and graceful termination would fail for that reason.
		return fmt.Errorf("model: rtx (%d) must exceed loss + inject (%d + %d)", b.Rtx, b.Loss, b.Inject)
	case b.Inject < 0 || b.Inject > 200 || b.OowLimit < 0 || b.OowLimit > 1 || b.Eager < 0 || b.Eager > 1:
		return errors.New("model: inject must be in 0..200, eager and oowlimit 0 or 1")
	case b.Window < 1 || b.Window > 8:
		return fmt.Errorf("model: window %d out of range 1..8", b.Window)
	}
	return nil
}

// String renders the bounds as "cap=3 loss=1 ..." (ParseBounds reads it back).
func (b Bounds) String() string {
	s := fmt.Sprintf("cap=%d loss=%d dup=%d reorder=%d opens=%d data=%d aborts=%d closes=%d rtx=%d window=%d eager=%d",
		b.Cap, b.Loss, b.Dup, b.Reorder, b.Opens, b.Data, b.Aborts, b.Closes, b.Rtx, b.Window, b.Eager)
	if b.Inject > 0 {
		s += fmt.Sprintf(" inject=%d", b.Inject)
	}
	if b.OowLimit > 0 {
		s += fmt.Sprintf(" oowlimit=%d", b.OowLimit)
	}
	if b.MaxStates > 0 {
		s += fmt.Sprintf(" maxstates=%d", b.MaxStates)
	}
	return s
}

// ParseBounds reads "key=value" fields (as String writes them) over base.
func ParseBounds(base Bounds, s string) (Bounds, error) {
	b := base
	for _, f := range strings.Fields(s) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return b, fmt.Errorf("model: bounds: %q is not key=value", f)
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return b, fmt.Errorf("model: bounds: %s: %w", k, err)
		}
		p := map[string]*int{"cap": &b.Cap, "loss": &b.Loss, "dup": &b.Dup, "reorder": &b.Reorder,
			"opens": &b.Opens, "data": &b.Data, "aborts": &b.Aborts, "closes": &b.Closes, "rtx": &b.Rtx, "window": &b.Window, "eager": &b.Eager, "inject": &b.Inject, "oowlimit": &b.OowLimit, "maxstates": &b.MaxStates}[k]
		if p == nil {
			return b, fmt.Errorf("model: bounds: unknown key %q", k)
		}
		*p = n
	}
	return b, nil
}

package netconn

import (
	"sync"
	"time"
)

// deadline is one direction's deadline of a PacketConn (a Conn's are
// connDeadline, sleepers.go): a channel closed when it passes,
// replaced when the deadline is moved (the pattern of net.Pipe). The channel
// is made only when a call blocks (wait) or a deadline is set: a direction
// that never does either (an idle keep-alive connection's write side)
// holds none.
type deadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	expiry chan struct{} // closed when the deadline has passed; nil until needed
}

func newDeadline() *deadline { return &deadline{} }

// set moves the deadline to t; zero clears it, a past time expires it now.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.expiry // the timer fired: wait until its callback closed expiry
	}
	d.timer = nil
	expired := d.expiry != nil && isDone(d.expiry)
	if t.IsZero() {
		if expired {
			d.expiry = nil
		}
		return
	}
	if dur := time.Until(t); dur > 0 {
		if expired || d.expiry == nil {
			d.expiry = make(chan struct{})
		}
		ch := d.expiry
		d.timer = time.AfterFunc(dur, func() { close(ch) })
		return
	}
	if d.expiry == nil {
		d.expiry = make(chan struct{})
	}
	if !expired {
		close(d.expiry)
	}
}

// wait returns the channel closed when the current deadline passes, made
// now if need be: a call blocked on it wakes when a deadline set later
// passes (net/http aborts a pending read that way).
func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.expiry == nil {
		d.expiry = make(chan struct{})
	}
	return d.expiry
}

// passed reports whether the deadline has passed, without making a channel.
func (d *deadline) passed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.expiry != nil && isDone(d.expiry)
}

func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

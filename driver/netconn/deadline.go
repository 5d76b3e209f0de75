package netconn

import (
	"sync"
	"time"
)

// deadline is one direction's deadline: a channel closed when it passes,
// replaced when the deadline is moved (the pattern of net.Pipe). The channel
// is made only when a deadline is first set: a connection that never sets
// one (an idle keep-alive connection's write side) holds none, and waiting
// on the nil channel blocks forever, as no deadline should.
type deadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	expiry chan struct{} // closed when the deadline has passed; nil until one is set
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

// wait returns the channel closed when the current deadline passes (nil:
// none set, never closed).
func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.expiry
}

func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

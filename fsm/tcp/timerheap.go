package tcp

// timerHeap orders the connections that have a timer running by their
// earliest deadline, so NextDeadline is O(1) and Poll touches only the
// connections that are due: an idle or TIME-WAIT connection costs nothing per
// event. Every change to a connection's timers happens inside an event that
// ends in Layer.finish, which calls schedule; that keeps the heap exact
// (checked by Conn.CheckInvariants).
type timerHeap = deadlineHeap[*Conn]

func (c *Conn) heapKey() tick      { return c.due }
func (c *Conn) heapIndex() int     { return int(c.hidx) }
func (c *Conn) setHeapIndex(i int) { c.hidx = int32(i) }

// earliest is the first of the connection's deadlines, zero when none runs.
func (c *Conn) earliest() tick {
	var d tick
	for _, t := range [...]tick{c.snd.rtxAt, c.twAt, c.rcv.delackAt, c.kaAt(), c.snd.rackAt, c.snd.tlpAt, c.snd.paceTimer()} {
		if !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	return d
}

// schedule puts c at its place in the heap for its current deadlines (or
// takes it out when none runs).
func (l *Layer) schedule(c *Conn) {
	d := c.earliest()
	switch {
	case d.IsZero():
		l.timers.remove(c)
	case c.hidx < 0:
		c.due = d
		l.timers.push(c)
	case !d.Equal(c.due):
		c.due = d
		l.timers.fix(c)
	}
}

package tcp

import "time"

// timerHeap orders the connections that have a timer running by their
// earliest deadline, so NextDeadline is O(1) and Poll touches only the
// connections that are due: an idle or TIME-WAIT connection costs nothing per
// event. Every change to a connection's timers happens inside an event that
// ends in Layer.finish, which calls schedule; that keeps the heap exact
// (checked by Conn.CheckInvariants).
type timerHeap []*Conn

// earliest is the first of the connection's deadlines, zero when none runs.
func (c *Conn) earliest() time.Time {
	var d time.Time
	for _, t := range [...]time.Time{c.rtxAt, c.twAt, c.delackAt, c.ka.at} {
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
	h := &l.timers
	switch {
	case d.IsZero():
		h.remove(c)
	case c.hidx < 0:
		c.due = d
		c.hidx = len(*h)
		*h = append(*h, c)
		h.up(c.hidx)
	case !d.Equal(c.due):
		c.due = d
		if !h.up(c.hidx) {
			h.down(c.hidx)
		}
	}
}

func (h *timerHeap) remove(c *Conn) {
	i := c.hidx
	if i < 0 {
		return
	}
	last := len(*h) - 1
	h.swap(i, last)
	(*h)[last] = nil
	*h = (*h)[:last]
	c.hidx = -1
	if i < last && !h.up(i) {
		h.down(i)
	}
}

func (h timerHeap) less(i, j int) bool { return h[i].due.Before(h[j].due) }

func (h timerHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hidx = i
	h[j].hidx = j
}

// up moves element i towards the root; it reports whether it moved.
func (h timerHeap) up(i int) bool {
	moved := false
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			break
		}
		h.swap(i, p)
		i = p
		moved = true
	}
	return moved
}

func (h timerHeap) down(i int) {
	n := len(h)
	for {
		m := i
		if l := 2*i + 1; l < n && h.less(l, m) {
			m = l
		}
		if r := 2*i + 2; r < n && h.less(r, m) {
			m = r
		}
		if m == i {
			return
		}
		h.swap(i, m)
		i = m
	}
}

package link

// Queue holds outgoing frames until the driver drains them, and recycles
// their buffers, so a steady flow of frames allocates nothing. At most
// limit buffers are lent at once: queued, waiting for ARP, being built, or
// handed to the driver (Handed) and not yet given back. Large buffers
// (SetLarge: room for a GSO super-frame) come from a pool of their own,
// with a bound of their own.
type Queue struct {
	size  int      // buffer capacity: MTU + Ethernet header
	limit int      // most buffers lent at once
	inUse int      // buffers handed out and not yet released
	free  [][]byte // recycled buffers
	q     [][]byte // frames ready for the driver, in order

	bigSize  int      // capacity of a large buffer (0: none)
	bigLimit int      // most large buffers lent at once
	bigInUse int      // large buffers lent
	bigFree  [][]byte // recycled large buffers
}

// init sizes the queue: buffers of size bytes, at most limit lent at once.
func (f *Queue) init(size, limit int) {
	f.size, f.limit = size, limit
	f.q = make([][]byte, 0, 64)
}

// setSize changes the size of the buffers Alloc returns (an MTU change).
func (f *Queue) setSize(size int) { f.size = size }

// Alloc returns a buffer of the frame size, or nil when the bound is reached.
func (f *Queue) Alloc() []byte {
	if f.inUse >= f.limit {
		return nil
	}
	f.inUse++
	for n := len(f.free); n > 0; n-- {
		b := f.free[n-1]
		f.free = f.free[:n-1]
		if cap(b) >= f.size { // smaller ones predate an MTU increase (SetMTU)
			return b[:f.size]
		}
	}
	return make([]byte, f.size)
}

// SetLarge lets AllocLarge lend up to limit buffers of size bytes at once.
func (f *Queue) SetLarge(size, limit int) { f.bigSize, f.bigLimit = size, limit }

// AllocLarge returns a buffer of the large size (SetLarge), or nil when
// none is set, limit large buffers are lent, or the queue's own bound is
// reached; the caller then takes an ordinary one (Alloc). A large buffer
// counts against both bounds and goes back with Release like any other.
func (f *Queue) AllocLarge() []byte {
	if f.bigInUse >= f.bigLimit || f.inUse >= f.limit {
		return nil
	}
	f.inUse++
	f.bigInUse++
	if n := len(f.bigFree); n > 0 {
		b := f.bigFree[n-1]
		f.bigFree[n-1] = nil
		f.bigFree = f.bigFree[:n-1]
		return b
	}
	return make([]byte, f.bigSize)
}

// Release gives back a buffer Alloc or AllocLarge lent that will not be
// queued, or that the driver was handed (Handed) and is done with.
func (f *Queue) Release(b []byte) {
	f.inUse--
	if f.bigSize > 0 && cap(b) == f.bigSize {
		f.bigInUse--
		f.bigFree = append(f.bigFree, b[:cap(b)])
		return
	}
	f.free = append(f.free, b[:cap(b)])
}

// Push queues a frame built in a buffer Alloc lent; the queue owns it until
// the driver drained it.
func (f *Queue) Push(b []byte) { f.q = append(f.q, b) }

// Len returns how many frames wait for the driver.
func (f *Queue) Len() int { return len(f.q) }

// InUse returns how many buffers are lent: queued, waiting or being built.
func (f *Queue) InUse() int { return f.inUse }

// Frames returns the queued frames in order, valid until Clear.
func (f *Queue) Frames() [][]byte { return f.q }

// Last returns the frame queued last (nil when none), for a caller that
// extends it in place (SetLast).
func (f *Queue) Last() []byte {
	if len(f.q) == 0 {
		return nil
	}
	return f.q[len(f.q)-1]
}

// SetLast replaces the frame queued last with b, the same buffer
// resliced (a super-frame that grew).
func (f *Queue) SetLast(b []byte) { f.q[len(f.q)-1] = b }

// Handed empties the queue without releasing its frames: the driver took
// them (Frames) and gives each back with Release once it has written it,
// so until then they count as lent.
func (f *Queue) Handed() {
	clear(f.q)
	f.q = f.q[:0]
}

// Clear releases every queued frame: the driver has taken them.
func (f *Queue) Clear() {
	for i, b := range f.q {
		f.Release(b)
		f.q[i] = nil
	}
	f.q = f.q[:0]
}

// Drain passes each queued frame to emit, in order, valid during the call,
// then releases them all; it returns how many it passed.
func (f *Queue) Drain(emit func(frame []byte)) int {
	n := len(f.q)
	for _, b := range f.q {
		emit(b)
	}
	f.Clear()
	return n
}

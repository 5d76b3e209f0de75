package link

// Queue holds outgoing frames until the driver drains them, and recycles
// their buffers, so a steady flow of frames allocates nothing. At most
// limit buffers are lent at once: queued, waiting for ARP, or being built.
type Queue struct {
	size  int      // buffer capacity: MTU + Ethernet header
	limit int      // most buffers lent at once
	inUse int      // buffers handed out and not yet released
	free  [][]byte // recycled buffers
	q     [][]byte // frames ready for the driver, in order
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

// Release gives back a buffer Alloc lent that will not be queued.
func (f *Queue) Release(b []byte) {
	f.inUse--
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

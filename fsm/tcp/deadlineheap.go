package tcp

// heapElem is what a deadlineHeap orders: something with a deadline that
// remembers its own index in the heap (-1 when outside it), so removal and
// re-keying are O(log n).
type heapElem interface {
	heapKey() tick
	heapIndex() int
	setHeapIndex(int)
}

// deadlineHeap is a binary min-heap by deadline. The layer keeps two: the
// connections with a timer running (timerHeap) and the TIME-WAIT records.
type deadlineHeap[T heapElem] []T

// push adds x, which must not be in the heap.
func (h *deadlineHeap[T]) push(x T) {
	x.setHeapIndex(len(*h))
	*h = append(*h, x)
	h.up(len(*h) - 1)
}

// remove takes x out of the heap; it does nothing when x is not in it.
func (h *deadlineHeap[T]) remove(x T) {
	i := x.heapIndex()
	if i < 0 {
		return
	}
	last := len(*h) - 1
	h.swap(i, last)
	var zero T
	(*h)[last] = zero
	*h = (*h)[:last]
	x.setHeapIndex(-1)
	if i < last && !h.up(i) {
		h.down(i)
	}
}

// fix restores the order after x's deadline changed.
func (h deadlineHeap[T]) fix(x T) {
	if i := x.heapIndex(); !h.up(i) {
		h.down(i)
	}
}

func (h deadlineHeap[T]) less(i, j int) bool { return h[i].heapKey().Before(h[j].heapKey()) }

func (h deadlineHeap[T]) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].setHeapIndex(i)
	h[j].setHeapIndex(j)
}

// up moves element i towards the root; it reports whether it moved.
func (h deadlineHeap[T]) up(i int) bool {
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

func (h deadlineHeap[T]) down(i int) {
	n := len(h)
	for {
		m := i
		if a := 2*i + 1; a < n && h.less(a, m) {
			m = a
		}
		if b := 2*i + 2; b < n && h.less(b, m) {
			m = b
		}
		if m == i {
			return
		}
		h.swap(i, m)
		i = m
	}
}

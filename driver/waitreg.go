package driver

import "github.com/netspec/netspec/fsm/stack"

// denseFDs bounds the descriptors the registry indexes directly: the
// stack numbers its sockets from 0, lowest free first (fsm/stack
// fdTable), so every descriptor in practice; a number beyond it (or
// negative) goes to a map.
const denseFDs = 1 << 16

// waitRegistry is the loop's registry of blocked callers by descriptor
// (guarded by the loop's mutex). It is a slice indexed by descriptor, so
// the registration and wake-up of every blocked Read cost an index
// instead of a map insertion and deletion; each descriptor keeps its
// emptied slice for its next wait (the stack reuses numbers), so a wait
// allocates nothing once its descriptor has waited before.
type waitRegistry struct {
	dense [][]waitEntry
	other map[stack.FD][]waitEntry
	n     int // descriptors with waiters
}

// get returns fd's waiters (none: an empty slice, maybe with room).
func (r *waitRegistry) get(fd stack.FD) []waitEntry {
	if fd >= 0 && fd < denseFDs {
		if int(fd) < len(r.dense) {
			return r.dense[fd]
		}
		return nil
	}
	return r.other[fd]
}

// set makes ws (not empty) fd's waiters.
func (r *waitRegistry) set(fd stack.FD, ws []waitEntry) {
	if len(r.get(fd)) == 0 {
		r.n++
	}
	if fd >= 0 && fd < denseFDs {
		if int(fd) >= len(r.dense) {
			r.dense = append(r.dense, make([][]waitEntry, int(fd)+1-len(r.dense))...)
		}
		r.dense[fd] = ws
		return
	}
	if r.other == nil {
		r.other = make(map[stack.FD][]waitEntry)
	}
	r.other[fd] = ws
}

// drop removes fd's waiters, keeping their emptied slice for its next wait.
func (r *waitRegistry) drop(fd stack.FD) {
	ws := r.get(fd)
	if len(ws) == 0 {
		return
	}
	r.n--
	clear(ws)
	if fd >= 0 && fd < denseFDs {
		r.dense[fd] = ws[:0]
		return
	}
	delete(r.other, fd)
}

// len returns how many descriptors have waiters.
func (r *waitRegistry) len() int { return r.n }

// each calls fn for every descriptor with waiters.
func (r *waitRegistry) each(fn func(fd stack.FD, ws []waitEntry)) {
	for fd, ws := range r.dense {
		if len(ws) > 0 {
			fn(stack.FD(fd), ws)
		}
	}
	for fd, ws := range r.other {
		fn(fd, ws)
	}
}

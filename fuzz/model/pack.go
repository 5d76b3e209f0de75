package model

import (
	"encoding/binary"
	"math/bits"

	"github.com/netspec/netspec/fsm/tcp"
)

// Packed sizes: a TCB, an endpoint, a channel and a whole state as bytes.
const (
	tcbBytes    = 15
	epBytes     = tcbBytes + 8
	segBytes    = 4
	chanBytes   = 1 + MaxCap*segBytes
	packedBytes = 2*epBytes + 2*chanBytes + 4
	packedWords = (packedBytes + 7) / 8
)

// packed is a State as a fixed-size byte string: every field in a fixed
// place, unused channel slots zero. It keys the exact visited set, holds the
// BFS frontier, and is what a fingerprint hashes.
type packed [packedWords * 8]byte

func packTCB(b []byte, c *TCB) {
	b[0], b[1] = byte(c.St), c.Retries
	binary.LittleEndian.PutUint16(b[2:], c.Flags)
	for i, v := range [...]int8{c.Iss, c.SndUna, c.SndNxt, c.RtxNxt, c.DataEnd, c.Irs, c.RcvNxt, c.RcvEdge, c.FinSeq, c.OooBeg, c.OooEnd} {
		b[4+i] = byte(v)
	}
}

func unpackTCB(b []byte, c *TCB) {
	c.St, c.Retries = tcp.State(b[0]), b[1]
	c.Flags = binary.LittleEndian.Uint16(b[2:])
	for i, p := range [...]*int8{&c.Iss, &c.SndUna, &c.SndNxt, &c.RtxNxt, &c.DataEnd, &c.Irs, &c.RcvNxt, &c.RcvEdge, &c.FinSeq, &c.OooBeg, &c.OooEnd} {
		*p = int8(b[4+i])
	}
}

// pack writes s into p.
func (s *State) pack(p *packed) {
	*p = packed{}
	b := p[:]
	for i := range 2 {
		e := &s.E[i]
		x := b[i*epBytes:]
		packTCB(x, &e.Conn)
		x = x[tcbBytes:]
		x[0], x[1], x[2], x[3], x[4], x[5] = byte(e.Lsn), byte(e.NextISS), e.Opens, e.Sends, e.Aborts, e.Closes
		if e.GaveUp {
			x[6] = 1
		}
		x[7] = byte(e.LastISS)
	}
	for i := range 2 {
		c := &s.C[i]
		x := b[2*epBytes+i*chanBytes:]
		x[0] = c.N
		for k := range int(c.N) {
			g := &c.S[k]
			y := x[1+k*segBytes:]
			y[0], y[1], y[2], y[3] = g.Flags, g.Len, byte(g.Seq), byte(g.Ack)
		}
	}
	x := b[2*epBytes+2*chanBytes:]
	x[0], x[1], x[2], x[3] = s.Loss, s.Dup, s.Reorder, s.Inject
}

// unpack is the inverse of pack.
func (p *packed) unpack() State {
	var s State
	b := p[:]
	for i := range 2 {
		e := &s.E[i]
		x := b[i*epBytes:]
		unpackTCB(x, &e.Conn)
		x = x[tcbBytes:]
		e.Lsn, e.NextISS, e.Opens, e.Sends, e.Aborts, e.Closes = tcp.State(x[0]), int8(x[1]), x[2], x[3], x[4], x[5]
		e.GaveUp = x[6] != 0
		e.LastISS = int8(x[7])
	}
	for i := range 2 {
		c := &s.C[i]
		x := b[2*epBytes+i*chanBytes:]
		c.N = x[0]
		for k := range int(c.N) {
			y := x[1+k*segBytes:]
			c.S[k] = Seg{Flags: y[0], Len: y[1], Seq: int8(y[2]), Ack: int8(y[3])}
		}
	}
	x := b[2*epBytes+2*chanBytes:]
	s.Loss, s.Dup, s.Reorder, s.Inject = x[0], x[1], x[2], x[3]
	return s
}

// appendVar appends the packed state p with only the segments in flight
// (the BFS frontier's form: 52 bytes plus 4 per segment, against 104).
func appendVar(dst []byte, p *packed) []byte {
	dst = append(dst, p[:2*epBytes]...)
	for i := range 2 {
		x := p[2*epBytes+i*chanBytes:]
		dst = append(dst, x[:1+int(x[0])*segBytes]...)
	}
	return append(dst, p[2*epBytes+2*chanBytes:packedBytes]...)
}

// readVar reads one state written by appendVar from src and returns it and
// the bytes it took.
func readVar(src []byte) (State, int) {
	var p packed
	n := copy(p[:2*epBytes], src)
	for i := range 2 {
		k := 1 + int(src[n])*segBytes
		copy(p[2*epBytes+i*chanBytes:], src[n:n+k])
		n += k
	}
	n += copy(p[2*epBytes+2*chanBytes:packedBytes], src[n:])
	return p.unpack(), n
}

// fingerprint is a 64-bit hash of the packed state (a multiply-xorshift
// mix over its words, with the avalanche of MurmurHash3's fmix64): the
// key of the hash-compacted visited set. It is deterministic, so a run's
// omissions (if any) are reproducible.
func (p *packed) fingerprint() uint64 {
	h := uint64(0x9e3779b97f4a7c15)
	for i := 0; i < len(p); i += 8 {
		w := binary.LittleEndian.Uint64(p[i:])
		h = bits.RotateLeft64((h^w)*0xff51afd7ed558ccd, 31) * 0xc4ceb9fe1a85ec53
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// fpSet is the hash-compacted visited set: an open-addressing table of state
// ids keyed by the 64-bit fingerprints in fps (fps[id] is state id's). It
// costs 8 bytes per state plus 4 bytes per slot (at most 3/4 full).
type fpSet struct {
	slots []uint32 // id+1, 0 = empty
	fps   chunked[uint64]
}

// lookupOrAdd returns the id of the state with fingerprint fp, adding it as
// id len(fps) if it is new.
func (t *fpSet) lookupOrAdd(fp uint64) (uint32, bool) {
	if 4*(t.fps.len()+1) > 3*len(t.slots) {
		t.grow()
	}
	mask := uint64(len(t.slots) - 1)
	for i := fp & mask; ; i = (i + 1) & mask {
		s := t.slots[i]
		if s == 0 {
			id := uint32(t.fps.len())
			t.fps.add(fp)
			t.slots[i] = id + 1
			return id, true
		}
		if t.fps.at(int(s-1)) == fp {
			return s - 1, false
		}
	}
}

func (t *fpSet) grow() {
	n := max(1<<16, 2*len(t.slots))
	t.slots = make([]uint32, n)
	mask := uint64(n - 1)
	for id := range t.fps.len() {
		i := t.fps.at(id) & mask
		for t.slots[i] != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = uint32(id) + 1
	}
}

// encodeStep packs a step into 16 bits (the BFS parent link's label).
func encodeStep(s Step) uint16 {
	v := uint16(s.Kind) | uint16(s.EP)<<3 | uint16(s.Slot)<<4 | uint16(s.Idx&15)<<5 | uint16(s.Ev)<<9
	if s.Full {
		v |= 1 << 15
	}
	return v
}

func decodeStep(v uint16) Step {
	return Step{Kind: Kind(v & 7), EP: uint8(v>>3) & 1, Slot: uint8(v>>4) & 1, Idx: uint8(v>>5) & 15, Ev: tcp.Event(v>>9) & 31, Full: v&(1<<15) != 0}
}

// chunkBits sets the chunk size of chunked arrays (64K elements).
const chunkBits = 16

// chunked is an append-only array stored in fixed chunks: growing it never
// copies (no transient second copy, as a doubling slice has) and wastes at
// most one chunk. The per-state arrays of a search are chunked.
type chunked[T any] struct {
	c [][]T
	n int
}

func (a *chunked[T]) len() int { return a.n }

func (a *chunked[T]) add(v T) {
	if a.n&(1<<chunkBits-1) == 0 {
		a.c = append(a.c, make([]T, 1<<chunkBits))
	}
	a.c[a.n>>chunkBits][a.n&(1<<chunkBits-1)] = v
	a.n++
}

func (a *chunked[T]) at(i int) T { return a.c[i>>chunkBits][i&(1<<chunkBits-1)] }

func (a *chunked[T]) ptr(i int) *T { return &a.c[i>>chunkBits][i&(1<<chunkBits-1)] }

// bytes is the memory the chunks hold, for elements of size elem.
func (a *chunked[T]) bytes(elem int) int64 { return int64(len(a.c)) << chunkBits * int64(elem) }

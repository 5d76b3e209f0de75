// Package seqnum implements modular 32-bit TCP sequence-number arithmetic
// (RFC 9293 §3.4): comparisons, distances and window membership that stay
// correct when sequence numbers wrap around 2^32.
package seqnum

// Value is a TCP sequence number. Comparisons between Values are modular
// (RFC 1982 serial-number style): a is less than b when the signed 32-bit
// difference b-a is positive, so they are meaningful only for numbers less
// than 2^31 apart, which TCP windows guarantee (RFC 9293 §3.4).
type Value uint32

// Size is a distance between sequence numbers or the length of a sequence
// space window, in octets.
type Size uint32

// LessThan reports whether v precedes w in sequence space (v < w, modular).
func (v Value) LessThan(w Value) bool { return int32(v-w) < 0 }

// LessThanEq reports whether v precedes or equals w (v =< w, modular).
func (v Value) LessThanEq(w Value) bool { return v == w || v.LessThan(w) }

// GreaterThan reports whether v follows w in sequence space (v > w, modular).
func (v Value) GreaterThan(w Value) bool { return int32(v-w) > 0 }

// GreaterThanEq reports whether v follows or equals w (v >= w, modular).
func (v Value) GreaterThanEq(w Value) bool { return v == w || v.GreaterThan(w) }

// Add returns v advanced by s octets, wrapping modulo 2^32.
func (v Value) Add(s Size) Value { return v + Value(s) }

// Sub returns the forward distance from w to v, (v - w) mod 2^32.
func (v Value) Sub(w Value) Size { return Size(v - w) }

// InWindow reports whether first =< v < first+size (modular), the test
// RFC 9293 §3.10.7.4 applies to segment starts and ends against RCV.NXT and
// RCV.WND. An empty window (size 0) contains nothing.
func (v Value) InWindow(first Value, size Size) bool {
	return Size(v-first) < size
}

// InRange reports whether a =< v < b (modular). An empty or inverted range
// (b =< a in modular order) contains nothing.
func (v Value) InRange(a, b Value) bool {
	if !a.LessThan(b) {
		return false
	}
	return Size(v-a) < Size(b-a)
}

// UpdateForward advances *v by s in place, for SND.NXT / RCV.NXT style counters.
func (v *Value) UpdateForward(s Size) { *v += Value(s) }

// Max returns whichever of v and w is later in sequence space.
func Max(v, w Value) Value {
	if v.LessThan(w) {
		return w
	}
	return v
}

// Min returns whichever of v and w is earlier in sequence space.
func Min(v, w Value) Value {
	if v.LessThan(w) {
		return v
	}
	return w
}

package seqnum

import (
	"math/rand/v2"
	"testing"
)

func TestCompareWrap(t *testing.T) {
	cases := []struct {
		a, b Value
		less bool
	}{
		{0, 1, true},
		{1, 0, false},
		{0xffffffff, 0, true},
		{0xfffffff0, 0x10, true},
		{0x10, 0xfffffff0, false},
		{0x7fffffff, 0x80000000, true},
		{100, 100, false},
	}
	for _, c := range cases {
		if got := c.a.LessThan(c.b); got != c.less {
			t.Errorf("%#x.LessThan(%#x) = %v, want %v", c.a, c.b, got, c.less)
		}
		if got := c.b.GreaterThan(c.a); got != c.less {
			t.Errorf("%#x.GreaterThan(%#x) = %v, want %v", c.b, c.a, got, c.less)
		}
		eq := c.a == c.b
		if got := c.a.LessThanEq(c.b); got != (c.less || eq) {
			t.Errorf("%#x.LessThanEq(%#x) = %v", c.a, c.b, got)
		}
		if got := c.b.GreaterThanEq(c.a); got != (c.less || eq) {
			t.Errorf("%#x.GreaterThanEq(%#x) = %v", c.b, c.a, got)
		}
	}
}

func TestAddSubWrap(t *testing.T) {
	v := Value(0xfffffffe)
	w := v.Add(5)
	if w != 3 {
		t.Fatalf("Add wrap: got %#x, want 3", w)
	}
	if d := w.Sub(v); d != 5 {
		t.Fatalf("Sub wrap: got %d, want 5", d)
	}
	if d := v.Sub(w); d != Size(0xfffffffb) {
		t.Fatalf("Sub reverse: got %#x", d)
	}
	u := v
	u.UpdateForward(2)
	if u != 0 {
		t.Fatalf("UpdateForward: got %#x", u)
	}
}

func TestInWindow(t *testing.T) {
	cases := []struct {
		v, first Value
		size     Size
		want     bool
	}{
		{10, 10, 1, true},
		{11, 10, 1, false},
		{9, 10, 100, false},
		{10, 10, 0, false},
		{0xffffffff, 0xfffffff0, 0x20, true},
		{0, 0xfffffff0, 0x20, true},
		{0xf, 0xfffffff0, 0x20, true},
		{0x10, 0xfffffff0, 0x20, false},
		{0xffffffef, 0xfffffff0, 0x20, false},
	}
	for _, c := range cases {
		if got := c.v.InWindow(c.first, c.size); got != c.want {
			t.Errorf("%#x.InWindow(%#x, %d) = %v, want %v", c.v, c.first, c.size, got, c.want)
		}
	}
}

func TestInRange(t *testing.T) {
	cases := []struct {
		v, a, b Value
		want    bool
	}{
		{5, 5, 6, true},
		{6, 5, 6, false},
		{5, 5, 5, false},
		{5, 6, 5, false}, // inverted range is empty
		{0, 0xfffffffe, 2, true},
		{1, 0xfffffffe, 2, true},
		{2, 0xfffffffe, 2, false},
		{0xfffffffd, 0xfffffffe, 2, false},
	}
	for _, c := range cases {
		if got := c.v.InRange(c.a, c.b); got != c.want {
			t.Errorf("%#x.InRange(%#x, %#x) = %v, want %v", c.v, c.a, c.b, got, c.want)
		}
	}
}

func TestMinMax(t *testing.T) {
	if Max(0xffffffff, 1) != 1 || Min(0xffffffff, 1) != 0xffffffff {
		t.Fatal("Min/Max across wrap")
	}
	if Max(3, 3) != 3 || Min(3, 3) != 3 {
		t.Fatal("Min/Max equal")
	}
}

// TestProperties checks seeded random triples: InWindow agrees with the
// distance definition and ordering is antisymmetric within 2^31.
func TestProperties(t *testing.T) {
	seed := uint64(0x5eed)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := 0; i < 100000; i++ {
		first := Value(r.Uint32())
		size := Size(r.Uint32N(1 << 30))
		off := Size(r.Uint32N(1 << 31))
		v := first.Add(off)
		if got, want := v.InWindow(first, size), off < size; got != want {
			t.Fatalf("seed %d: %#x.InWindow(%#x,%d)=%v want %v", seed, v, first, size, got, want)
		}
		if size > 0 {
			if got, want := v.InRange(first, first.Add(size)), off < size; got != want {
				t.Fatalf("seed %d: InRange mismatch at %#x [%#x,+%d)", seed, v, first, size)
			}
		}
		if off != 0 && off < 1<<31 {
			if !first.LessThan(v) || v.LessThan(first) || !v.GreaterThan(first) {
				t.Fatalf("seed %d: ordering broken for %#x vs %#x", seed, first, v)
			}
		}
	}
}

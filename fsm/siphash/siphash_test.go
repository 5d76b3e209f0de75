package siphash

import "testing"

// TestSum64Vectors checks the reference vectors of the SipHash paper
// (Appendix A: key 00..0f, messages 00, 00 01, ..., of length 0 to 15).
func TestSum64Vectors(t *testing.T) {
	const k0, k1 = 0x0706050403020100, 0x0f0e0d0c0b0a0908
	want := map[int]uint64{
		0:  0x726fdb47dd0e0e31,
		1:  0x74f839c593dc67fd,
		7:  0xab0200f58b01d137,
		8:  0x93f5f5799a932462,
		15: 0xa129ca6149be45e5,
	}
	msg := make([]byte, 16)
	for i := range msg {
		msg[i] = byte(i)
	}
	for n, w := range want {
		if got := Sum64(k0, k1, msg[:n]); got != w {
			t.Errorf("length %d: %#x, want %#x", n, got, w)
		}
	}
}

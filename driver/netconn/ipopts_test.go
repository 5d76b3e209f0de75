package netconn

import (
	"errors"
	"net"
	"testing"
)

// TestConnTOSAndTTL: SetTOS and SetTTL reach the stack's descriptor calls
// (MUST-48, MUST-49), TOS and TTL read them back, out-of-range values are
// refused, and a closed Conn reports net.ErrClosed.
func TestConnTOSAndTTL(t *testing.T) {
	r := newFakeRunner(16)
	cli, _ := pair(t, r)
	if err := cli.SetTOS(0xb8); err != nil {
		t.Fatal(err)
	}
	if err := cli.SetTTL(9); err != nil {
		t.Fatal(err)
	}
	if tos, err := cli.TOS(); err != nil || tos != 0xb8 {
		t.Fatalf("TOS %#x, %v", tos, err)
	}
	if ttl, err := cli.TTL(); err != nil || ttl != 9 {
		t.Fatalf("TTL %d, %v", ttl, err)
	}
	if r.st.socks[cli.FD()].tos != 0xb8 || r.st.socks[cli.FD()].ttl != 9 {
		t.Fatal("settings did not reach the stack")
	}
	if cli.SetTOS(256) == nil || cli.SetTTL(-1) == nil {
		t.Fatal("out-of-range value accepted")
	}
	if err := cli.SetSoftErrors(false); err != nil || !r.st.socks[cli.FD()].softOff {
		t.Fatalf("SetSoftErrors: %v", err)
	}
	if err := cli.SoftError(); err != nil {
		t.Fatalf("SoftError %v on a fresh connection", err)
	}
	cli.Close()
	if err := cli.SetTOS(0); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("SetTOS after Close: %v", err)
	}
	if _, err := cli.TOS(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("TOS after Close: %v", err)
	}
}

// TestListenerTOS: a listener's settings reach its descriptor.
func TestListenerTOS(t *testing.T) {
	r := newFakeRunner(16)
	ln, err := listen(r, 81, 4, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := ln.SetTOS(0x28); err != nil || r.st.socks[ln.fd].tos != 0x28 {
		t.Fatalf("SetTOS: %v", err)
	}
	if err := ln.SetTTL(3); err != nil || r.st.socks[ln.fd].ttl != 3 {
		t.Fatalf("SetTTL: %v", err)
	}
	if ln.SetTOS(-1) == nil {
		t.Fatal("out-of-range TOS accepted")
	}
}

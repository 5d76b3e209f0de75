package tcp

import (
	"bytes"
	"testing"
)

// TestBufPoolRecyclesRings: the receive ring of a connection that ended goes
// back to the layer's pool, the next connection takes it instead of a new
// (zeroed) one, and reads exactly its own octets — never the previous
// connection's.
func TestBufPoolRecyclesRings(t *testing.T) {
	r := newRig(t, Config{}, 300, 900)
	r.establishedPassive(100, 300)
	old := bytes.Repeat([]byte("previous connection "), 50)
	r.send(seg{flags: ACK, seq: 101, ack: 301, data: old})
	buf := make([]byte, 4096)
	if n, err := r.c.Recv(r.now, buf); n != len(old) || err != nil {
		t.Fatalf("Recv = %d, %v", n, err)
	}
	first := r.c
	if err := first.Abort(r.now); err != nil {
		t.Fatal(err)
	}
	if len(r.l.rcvPool.free) != 1 {
		t.Fatalf("%d receive rings pooled after the connection ended, want 1", len(r.l.rcvPool.free))
	}
	pooled := &r.l.rcvPool.free[0][0]

	r.o.segs = r.o.segs[:0]
	r.c = nil
	r.pport++
	r.send(seg{flags: SYN, seq: 5000})
	r.recv(seg{flags: SYN | ACK, seq: 900, ack: 5001})
	r.send(seg{flags: ACK, seq: 5001, ack: 901})
	c, err := r.ln.Accept(r.now)
	if err != nil {
		t.Fatal(err)
	}
	fresh := []byte("new")
	r.send(seg{flags: ACK, seq: 5001, ack: 901, data: fresh})
	if c.rcv.buf.buf == nil || &c.rcv.buf.buf[0] != pooled || len(r.l.rcvPool.free) != 0 {
		t.Fatal("the second connection did not reuse the pooled ring")
	}
	n, err := c.Recv(r.now, buf)
	if err != nil || !bytes.Equal(buf[:n], fresh) {
		t.Fatalf("second connection read %q, %v; want %q", buf[:n], err, fresh)
	}
}

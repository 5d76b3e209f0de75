package netconn_test

import (
	"testing"
	"testing/synctest"
)

// TestConnRetryingAtR1: the peer answers the handshake and then falls
// silent; after the third retransmission of the data (R1, RFC 9293 §3.8.3)
// Conn.Retrying reports it (SHLD-9), not before, and the connection is
// still open.
func TestConnRetryingAtR1(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, p := dialRawPeer(t)
		if c == nil {
			return
		}
		if _, err := c.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		for i := 0; i <= 3; i++ { // the original, then three retransmissions
			if r, err := c.Retrying(); err != nil || r {
				t.Fatalf("before transmission %d: Retrying %v, %v", i, r, err)
			}
			if _, seg := p.next(); len(seg.Payload()) != 5 {
				t.Fatalf("transmission %d carries %d octets", i, len(seg.Payload()))
			}
		}
		synctest.Wait()
		if r, err := c.Retrying(); err != nil || !r {
			t.Fatalf("after R1 retransmissions: Retrying %v, %v", r, err)
		}
	})
}

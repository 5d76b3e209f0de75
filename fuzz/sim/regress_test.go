package sim

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fsm/tcp"
)

// TestRegressionClosingLastAckWindowUpdate: data queued behind a zero window
// when CLOSE is given, then the peer's FIN, put the sender in CLOSING (or, FIN
// first, in LAST-ACK) with data still unsent. spec/tcp.fsm had no
// WindowUpdate in the CLOSING and LAST-ACK ACK rows, so the window never
// reopened and the rest went out one octet per probe (about an hour for
// 16 KiB). Found by the gopter command test (fuzz/props) with shrunk
// sequence [open open write(1,client,70000) advance(5s)] + finish.
func TestRegressionClosingLastAckWindowUpdate(t *testing.T) {
	for _, peerFinFirst := range []bool{false, true} {
		s := ForTest(t, Config{Seed: 11, TCP: tcp.Config{SendBuf: 32 << 10, RecvBuf: 8 << 10}})
		var ln, cfd, sfd stack.FD = -1, -1, -1
		s.Do(1, func(now time.Time, st *stack.Stack) { ln, _ = st.Listen(now, 80, 4) })
		s.Do(0, func(now time.Time, st *stack.Stack) { cfd, _ = st.Dial(now, HostAddr(1), 80) })
		if err := s.Run(func() bool {
			s.Do(1, func(now time.Time, st *stack.Stack) { sfd, _ = st.Accept(now, ln) })
			return sfd >= 0
		}, 10000); err != nil {
			t.Fatal(err)
		}
		want := pattern(5, 32<<10)
		s.Do(0, func(now time.Time, st *stack.Stack) { st.Send(now, cfd, want) })
		if err := s.Advance(2 * time.Second); err != nil { // the server's window closes
			t.Fatal(err)
		}
		closeClient := func() { s.Do(0, func(now time.Time, st *stack.Stack) { st.CloseWrite(now, cfd) }) }
		closeServer := func() { s.Do(1, func(now time.Time, st *stack.Stack) { st.CloseWrite(now, sfd) }) }
		if peerFinFirst {
			closeServer() // client: CLOSE-WAIT, then LAST-ACK with data queued
			s.Advance(100 * time.Millisecond)
			closeClient()
		} else {
			closeClient() // client: FIN-WAIT-1 with data queued, then CLOSING
			closeServer()
		}
		s.Advance(100 * time.Millisecond)
		if stt, _ := s.Host(0).Stack.Status(cfd); stt.State != tcp.StateClosing.String() && stt.State != tcp.StateLastAck.String() {
			t.Fatalf("client in %s, want CLOSING or LAST-ACK for this regression", stt.State)
		}
		var got []byte
		eof := false
		buf := make([]byte, 4096)
		err := s.Run(func() bool {
			s.Do(1, func(now time.Time, st *stack.Stack) {
				for {
					k, err := st.Recv(now, sfd, buf)
					got = append(got, buf[:k]...)
					if err == io.EOF {
						eof = true
					}
					if err != nil || k == 0 {
						if err != nil && err != io.EOF && !errors.Is(err, sock.ErrWouldBlock) {
							t.Fatalf("recv: %v", err)
						}
						return
					}
				}
			})
			return eof || s.Now().Sub(Epoch) > 30*time.Second
		}, 1_000_000)
		if err != nil || !eof || !bytes.Equal(got, want) {
			t.Fatalf("peerFinFirst=%v: %v; got %d of %d bytes by %v, eof %v", peerFinFirst, err, len(got), len(want), s.Now().Sub(Epoch), eof)
		}
	}
}

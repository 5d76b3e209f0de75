package netconn

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"

	"github.com/netspec/netspec/fsm/sock"
)

var srvAddr = netip.MustParseAddrPort("198.18.0.2:80")

// pair returns a connected client/server pair over a fake runner.
func pair(t *testing.T, r *fakeRunner) (cli, srv *Conn) {
	t.Helper()
	ln, err := listen(r, 80, 4, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cli, err = dial(context.Background(), r, srvAddr, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close(); c.Close(); ln.Close() })
	return cli, c.(*Conn)
}

func TestConnRoundTripAndHalfClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newFakeRunner(1024)
		cli, srv := pair(t, r)
		if _, err := cli.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		if err := cli.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(srv)
		if err != nil || string(got) != "hello" {
			t.Fatalf("server read %q, %v; want hello, nil (EOF after FIN)", got, err)
		}
		// The other direction still works after the client's half-close.
		if _, err := srv.Write([]byte("back")); err != nil {
			t.Fatal(err)
		}
		srv.CloseWrite()
		got, err = io.ReadAll(cli)
		if err != nil || string(got) != "back" {
			t.Fatalf("client read %q, %v after half-close", got, err)
		}
		if _, err := cli.Write([]byte("x")); !errors.Is(err, sock.ErrClosing) {
			t.Fatalf("Write after CloseWrite = %v, want ErrClosing", err)
		}
	})
}

// TestConnWriteHoldsUnlessReadWaits: Write leaves the push out (SendMore),
// so the octets leave with the connection's next call (a Close puts its FIN
// on them), except while a Read waits on the connection: then no next call
// is coming and Write pushes (Send).
func TestConnWriteHoldsUnlessReadWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newFakeRunner(1024)
		cli, srv := pair(t, r)
		if _, err := srv.Write([]byte("reply")); err != nil {
			t.Fatal(err)
		}
		if got := r.st.sends; got != [2]int{0, 1} {
			t.Fatalf("Write with no Read waiting: Send, SendMore calls %v, want [0 1]", got)
		}
		read := make(chan error, 1)
		go func() {
			_, err := srv.Read(make([]byte, 8))
			read <- err
		}()
		synctest.Wait() // the Read waits for data
		if _, err := srv.Write([]byte("more")); err != nil {
			t.Fatal(err)
		}
		if got := r.st.sends; got != [2]int{1, 1} {
			t.Fatalf("Write while a Read waits: Send, SendMore calls %v, want [1 1]", got)
		}
		if _, err := cli.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if err := <-read; err != nil {
			t.Fatal(err)
		}
		if _, err := srv.Write([]byte("again")); err != nil {
			t.Fatal(err)
		}
		if got := r.st.sends; got != [2]int{1, 3} { // the client's Write was one
			t.Fatalf("Write after the Read returned: Send, SendMore calls %v, want [1 3]", got)
		}
	})
}

func TestConnAddrs(t *testing.T) {
	r := newFakeRunner(16)
	cli, srv := pair(t, r)
	ra, ok := cli.RemoteAddr().(*net.TCPAddr)
	if !ok || ra.String() != "198.18.0.2:80" {
		t.Fatalf("client RemoteAddr = %v", cli.RemoteAddr())
	}
	la := srv.LocalAddr().(*net.TCPAddr)
	if la.Port != 80 || srv.RemoteAddr().(*net.TCPAddr).Port != cli.LocalAddr().(*net.TCPAddr).Port {
		t.Fatalf("server addrs %v %v, client local %v", la, srv.RemoteAddr(), cli.LocalAddr())
	}
}

func TestConnWriteBlocksUntilAllQueued(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newFakeRunner(16) // a 100-byte write needs at least 7 rounds
		cli, srv := pair(t, r)
		msg := bytes.Repeat([]byte("0123456789"), 10)
		done := make(chan error, 1)
		go func() {
			n, err := cli.Write(msg)
			if err == nil && n != len(msg) {
				err = io.ErrShortWrite
			}
			done <- err
			cli.CloseWrite()
		}()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("Write returned (%v) before the reader made room", err)
		default:
		}
		got, err := io.ReadAll(srv)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("read %q, %v", got, err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

func assertTimeout(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("err = %v, want os.ErrDeadlineExceeded", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("err = %v is not a net.Error with Timeout()", err)
	}
}

func TestConnReadDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newFakeRunner(16)
		cli, srv := pair(t, r)
		start := time.Now()
		srv.SetReadDeadline(start.Add(100 * time.Millisecond))
		_, err := srv.Read(make([]byte, 8))
		assertTimeout(t, err)
		if d := time.Since(start); d != 100*time.Millisecond {
			t.Fatalf("Read timed out after %v (virtual), want exactly 100ms", d)
		}
		// Still expired for later calls until moved.
		_, err = srv.Read(make([]byte, 8))
		assertTimeout(t, err)
		// Clearing it makes Read block again until data arrives.
		srv.SetReadDeadline(time.Time{})
		go func() {
			time.Sleep(time.Second)
			cli.Write([]byte("late"))
		}()
		b := make([]byte, 8)
		n, err := srv.Read(b)
		if err != nil || string(b[:n]) != "late" {
			t.Fatalf("Read after clearing the deadline = %q, %v", b[:n], err)
		}
	})
}

func TestConnDeadlineExtendedWhileBlocked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newFakeRunner(16)
		_, srv := pair(t, r)
		start := time.Now()
		srv.SetReadDeadline(start.Add(50 * time.Millisecond))
		go func() {
			time.Sleep(10 * time.Millisecond)
			srv.SetReadDeadline(start.Add(200 * time.Millisecond))
		}()
		_, err := srv.Read(make([]byte, 1))
		assertTimeout(t, err)
		if d := time.Since(start); d != 200*time.Millisecond {
			t.Fatalf("timed out at %v, want the moved deadline 200ms", d)
		}
	})
}

// TestConnDeadlineSetWhileBlocked: a Read blocked with no deadline at all
// (no heap entry: sleepers.go) returns when another goroutine
// sets one, as net/http's abortPendingRead does with a time in the past.
func TestConnDeadlineSetWhileBlocked(t *testing.T) {
	for _, at := range []time.Duration{-time.Hour, 30 * time.Millisecond} {
		synctest.Test(t, func(t *testing.T) {
			r := newFakeRunner(16)
			_, srv := pair(t, r)
			start := time.Now()
			go func() {
				time.Sleep(10 * time.Millisecond)
				srv.SetReadDeadline(start.Add(at))
			}()
			_, err := srv.Read(make([]byte, 1))
			assertTimeout(t, err)
			if d, want := time.Since(start), max(at, 10*time.Millisecond); d != want {
				t.Fatalf("deadline %v: Read returned after %v, want %v", at, d, want)
			}
		})
	}
}

// TestConnPassedDeadlineWakesAtOnce: a deadline set in the past wakes the
// Read it blocks from the setter, at once, without a heap entry or the
// heap's timer (net/http does this after every request, to abort its
// background read); a Read that starts after it returns at once too.
func TestConnPassedDeadlineWakesAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newFakeRunner(16)
		_, srv := pair(t, r)
		start := time.Now()
		done := make(chan error)
		go func() {
			_, err := srv.Read(make([]byte, 1))
			done <- err
		}()
		synctest.Wait() // the Read is blocked
		srv.SetReadDeadline(time.Unix(1, 0))
		synctest.Wait()
		select {
		case err := <-done:
			assertTimeout(t, err)
		default:
			t.Fatal("the Read is still blocked")
		}
		_, err := srv.Read(make([]byte, 1))
		assertTimeout(t, err)
		if d := time.Since(start); d != 0 {
			t.Fatalf("Reads returned after %v, want at once", d)
		}
		sl := r.sleepers()
		sl.mu.Lock()
		defer sl.mu.Unlock()
		if sl.timer != nil || len(sl.h) != 0 {
			t.Fatalf("a passed deadline used the heap (%d entries) or its timer (%v)", len(sl.h), sl.timer != nil)
		}
	})
}

func TestConnWriteDeadlineReportsPartialWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newFakeRunner(16)
		cli, _ := pair(t, r)
		cli.SetWriteDeadline(time.Now().Add(time.Second))
		n, err := cli.Write(make([]byte, 40))
		assertTimeout(t, err)
		if n != 16 {
			t.Fatalf("Write queued %d bytes before the deadline, want 16 (the buffer)", n)
		}
		cli.SetDeadline(time.Now().Add(-time.Second))
		if _, err := cli.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Write with a past deadline = %v", err)
		}
	})
}

func TestConnCloseUnblocksReadAndWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newFakeRunner(4)
		cli, _ := pair(t, r)
		var wg sync.WaitGroup
		var rerr, werr error
		wg.Add(2)
		go func() { defer wg.Done(); _, rerr = cli.Read(make([]byte, 8)) }()
		go func() { defer wg.Done(); _, werr = cli.Write(make([]byte, 64)) }()
		synctest.Wait() // both blocked
		if err := cli.Close(); err != nil {
			t.Fatalf("Close = %v", err)
		}
		wg.Wait()
		if !errors.Is(rerr, net.ErrClosed) || !errors.Is(werr, net.ErrClosed) {
			t.Fatalf("blocked Read = %v, Write = %v; want net.ErrClosed", rerr, werr)
		}
		if err := cli.Close(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("second Close = %v, want net.ErrClosed", err)
		}
		if err := cli.SetDeadline(time.Time{}); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("SetDeadline after Close = %v", err)
		}
	})
}

func TestConnClosedDescriptorNotReused(t *testing.T) {
	r := newFakeRunner(64)
	cli, srv := pair(t, r)
	oldFD := srv.FD()
	srv.Close()
	// A new connection takes the released number.
	cli2, err := dial(context.Background(), r, srvAddr, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cli2.Close()
	r.with(func(f *fakeStack) {
		if f.socks[oldFD] == nil {
			t.Fatal("test setup: the released descriptor was not reused")
		}
	})
	cli2.Write([]byte("secret"))
	if _, err := srv.Read(make([]byte, 8)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read on a closed conn = %v; must not reach the reused descriptor", err)
	}
	// The peer of the closed conn sees FIN.
	if _, err := cli.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("peer Read after Close = %v, want EOF", err)
	}
}

func TestConnResetIsNotEOF(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newFakeRunner(64)
		cli, srv := pair(t, r)
		errc := make(chan error, 1)
		go func() { _, err := srv.Read(make([]byte, 8)); errc <- err }()
		synctest.Wait()
		if err := cli.Abort(); err != nil {
			t.Fatal(err)
		}
		err := <-errc
		if !errors.Is(err, sock.ErrReset) || err == io.EOF {
			t.Fatalf("Read after RST = %v, want an error wrapping sock.ErrReset (RFC 9293 MUST-12)", err)
		}
	})
}

func TestListenerAcceptBlocksAndCloseUnblocks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newFakeRunner(64)
		ln, err := listen(r, 8080, 2, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if a := ln.Addr().(*net.TCPAddr); a.Port != 8080 || a.IP.String() != "198.18.0.2" {
			t.Fatalf("Addr = %v", a)
		}
		errc := make(chan error, 1)
		go func() { _, err := ln.Accept(); errc <- err }()
		synctest.Wait()
		select {
		case err := <-errc:
			t.Fatalf("Accept returned %v with no connection", err)
		default:
		}
		ln.Close()
		if err := <-errc; !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close = %v", err)
		}
		if err := ln.Close(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("second Close = %v", err)
		}
		if _, err := listen(r, 8080, 2, Options{}); err != nil {
			t.Fatalf("port not released by Close: %v", err)
		}
	})
}

func TestListenerAcceptWakesOnConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newFakeRunner(64)
		ln, _ := listen(r, 80, 2, Options{})
		connc := make(chan net.Conn, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				t.Error(err)
			}
			connc <- c
		}()
		synctest.Wait()
		cli, err := dial(context.Background(), r, srvAddr, Options{})
		if err != nil {
			t.Fatal(err)
		}
		c := <-connc
		if c.RemoteAddr().String() != cli.LocalAddr().String() {
			t.Fatalf("accepted %v, dialed from %v", c.RemoteAddr(), cli.LocalAddr())
		}
	})
}

// TestListenerAcceptsConcurrently: two Accepts blocked at once (one waits
// on the listener's own reused channel, the other on one of its own) each
// return a connection when two arrive, a later Accept that blocks again
// is woken by the next one, and Close wakes an Accept still waiting.
func TestListenerAcceptsConcurrently(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newFakeRunner(64)
		ln, _ := listen(r, 80, 4, Options{})
		type res struct {
			c   net.Conn
			err error
		}
		got := make(chan res, 3)
		accept := func() {
			c, err := ln.Accept()
			got <- res{c, err}
		}
		go accept()
		go accept()
		synctest.Wait()
		if len(got) != 0 {
			t.Fatal("an Accept returned with no connection")
		}
		for range 2 {
			if _, err := dial(context.Background(), r, srvAddr, Options{}); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		for range 2 {
			if a := <-got; a.err != nil || a.c == nil {
				t.Fatalf("Accept with two connections arriving: %v", a.err)
			}
		}
		go accept()
		synctest.Wait()
		if _, err := dial(context.Background(), r, srvAddr, Options{}); err != nil {
			t.Fatal(err)
		}
		if a := <-got; a.err != nil {
			t.Fatalf("Accept blocking again: %v", a.err)
		}
		go accept()
		synctest.Wait()
		ln.Close()
		if a := <-got; !errors.Is(a.err, net.ErrClosed) {
			t.Fatalf("Accept after Close = %v", a.err)
		}
	})
}

func TestListenDuplicatePort(t *testing.T) {
	r := newFakeRunner(64)
	if _, err := listen(r, 80, 1, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := listen(r, 80, 1, Options{}); !errors.Is(err, sock.ErrExists) {
		t.Fatalf("second Listen = %v, want ErrExists", err)
	}
}

func TestDialRefused(t *testing.T) {
	r := newFakeRunner(64)
	_, err := dial(context.Background(), r, srvAddr, Options{})
	if !errors.Is(err, sock.ErrRefused) {
		t.Fatalf("Dial with no listener = %v, want ErrRefused", err)
	}
	if _, err := dial(context.Background(), r, netip.MustParseAddrPort("[::1]:80"), Options{}); err == nil {
		t.Fatal("Dial to IPv6 succeeded")
	}
}

func TestDialWaitsForHandshake(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newFakeRunner(64)
		listen(r, 80, 2, Options{})
		r.with(func(f *fakeStack) { f.hold = true })
		connc := make(chan error, 1)
		go func() { _, err := dial(context.Background(), r, srvAddr, Options{}); connc <- err }()
		synctest.Wait()
		select {
		case err := <-connc:
			t.Fatalf("Dial returned %v in SYN-SENT", err)
		default:
		}
		r.with(func(f *fakeStack) { f.complete() })
		if err := <-connc; err != nil {
			t.Fatalf("Dial = %v after the handshake", err)
		}
	})
}

func TestDialContextCancelAborts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newFakeRunner(64)
		listen(r, 80, 2, Options{})
		r.with(func(f *fakeStack) { f.hold = true })
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_, err := dial(ctx, r, srvAddr, Options{})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Dial = %v, want context.DeadlineExceeded", err)
		}
		r.with(func(f *fakeStack) {
			if len(f.socks) != 1 {
				t.Fatalf("%d sockets left, want only the listener (dial aborted)", len(f.socks))
			}
		})
	})
}

func TestLoopShutdownUnblocksCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newFakeRunner(64)
		ln, _ := listen(r, 81, 2, Options{})
		_, srv := pair(t, r)
		errc := make(chan error, 2)
		go func() { _, err := srv.Read(make([]byte, 1)); errc <- err }()
		go func() { _, err := ln.Accept(); errc <- err }()
		synctest.Wait()
		r.shutdown()
		for range 2 {
			if err := <-errc; !errors.Is(err, net.ErrClosed) {
				t.Fatalf("blocked call after loop shutdown = %v", err)
			}
		}
		if err := srv.Close(); err != nil {
			t.Fatalf("Close after loop shutdown = %v, want nil", err)
		}
	})
}

type logRecorder struct {
	mu  sync.Mutex
	evs []string
}

func (l *logRecorder) Record(ev Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evs = append(l.evs, ev.Op.String()+":"+string(ev.Data))
}

func TestRecorderSeesCalls(t *testing.T) {
	r := newFakeRunner(64)
	rec := &logRecorder{}
	ln, _ := listen(r, 80, 2, Options{})
	cli, err := dial(context.Background(), r, srvAddr, Options{Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := ln.Accept()
	cli.Write([]byte("ab"))
	c.Write([]byte("cd"))
	b := make([]byte, 4)
	n, _ := cli.Read(b)
	cli.CloseWrite()
	cli.Close()
	want := []string{"dial:", "write:ab", "read:" + string(b[:n]), "closewrite:", "close:"}
	if len(rec.evs) != len(want) {
		t.Fatalf("recorded %q, want %q", rec.evs, want)
	}
	for i := range want {
		if rec.evs[i] != want[i] {
			t.Fatalf("recorded %q, want %q", rec.evs, want)
		}
	}
}

// TestConnWaitUrgent: WaitUrgent blocks until urgent data is pending (the
// stack's Urgent readiness, MUST-32) and returns how much (MUST-33); it
// returns at once while some is pending, and Close or the context stop it.
func TestConnWaitUrgent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newFakeRunner(64)
		cli, _ := pair(t, r)
		var got int
		var gerr error
		done := make(chan struct{})
		go func() { got, gerr = cli.WaitUrgent(context.Background()); close(done) }()
		synctest.Wait()
		select {
		case <-done:
			t.Fatalf("WaitUrgent returned %d, %v with nothing urgent", got, gerr)
		default:
		}
		r.with(func(f *fakeStack) { f.socks[cli.FD()].urgent = 3; f.dirty = true })
		<-done
		if got != 3 || gerr != nil {
			t.Fatalf("WaitUrgent = %d, %v; want 3", got, gerr)
		}
		if n, err := cli.WaitUrgent(context.Background()); n != 3 || err != nil {
			t.Fatalf("second WaitUrgent = %d, %v; want 3 at once", n, err)
		}
		if n, ok, err := cli.Urgent(); n != 3 || !ok || err != nil {
			t.Fatalf("Urgent = %d, %v, %v", n, ok, err)
		}
		r.with(func(f *fakeStack) { f.socks[cli.FD()].urgent = 0 })
		ctx, cancel := context.WithCancel(context.Background())
		done = make(chan struct{})
		go func() { _, gerr = cli.WaitUrgent(ctx); close(done) }()
		synctest.Wait()
		cancel()
		<-done
		if !errors.Is(gerr, context.Canceled) {
			t.Fatalf("cancelled WaitUrgent: %v", gerr)
		}
		done = make(chan struct{})
		go func() { _, gerr = cli.WaitUrgent(context.Background()); close(done) }()
		synctest.Wait()
		cli.Close()
		<-done
		if !errors.Is(gerr, net.ErrClosed) {
			t.Fatalf("WaitUrgent after Close: %v", gerr)
		}
	})
}

// TestConnDeadlinesShareOneHeap: the connections of one runner, each with
// a Read blocked under its own deadline, share one heap and timer
// (sleepers.go): each Read times out at exactly its deadline, whether set
// before it blocked, moved earlier or later while blocked, or cleared
// (then it returns with the data that comes later); a Read whose data
// arrives first returns the data. Once every call returned the heap holds
// nothing and its timer is stopped.
func TestConnDeadlinesShareOneHeap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newFakeRunner(16)
		ln, err := listen(r, 80, 16, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		const n = 8
		var clis, srvs []*Conn
		for range n {
			c, err := dial(context.Background(), r, srvAddr, Options{})
			if err != nil {
				t.Fatal(err)
			}
			s, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			clis, srvs = append(clis, c), append(srvs, s.(*Conn))
			defer c.Close()
			defer s.Close()
		}
		start := time.Now()
		ms := func(k int) time.Duration { return time.Duration(k) * time.Millisecond }
		// want: when each Read returns, and whether with data.
		want := []struct {
			at   time.Duration
			data bool
		}{{80, false}, {10, false}, {30, false}, {50, false}, {25, true}, {60, true}, {5, false}, {70, false}}
		for i, s := range srvs {
			if i != 3 && i != 5 {
				s.SetReadDeadline(start.Add(ms(int(want[i].at))))
			}
		}
		srvs[4].SetReadDeadline(start.Add(ms(100))) // data comes first, at 25 ms
		srvs[5].SetReadDeadline(start.Add(ms(40)))  // cleared at 20 ms; data at 60 ms
		srvs[1].SetReadDeadline(start.Add(ms(90)))  // moved to 10 ms at 5 ms
		srvs[1].SetReadDeadline(start.Add(ms(90)))
		go func() {
			time.Sleep(ms(5))
			srvs[1].SetReadDeadline(start.Add(ms(10)))
			srvs[6].SetReadDeadline(start.Add(-time.Hour)) // passed: wakes now
			time.Sleep(ms(15))
			srvs[5].SetReadDeadline(time.Time{})
			srvs[3].SetReadDeadline(start.Add(ms(50))) // set while blocked with none
			time.Sleep(ms(5))
			clis[4].Write([]byte("x"))
			time.Sleep(ms(35))
			clis[5].Write([]byte("y"))
		}()
		var wg sync.WaitGroup
		for i, s := range srvs {
			wg.Go(func() {
				n, err := s.Read(make([]byte, 4))
				d := time.Since(start)
				if want[i].data != (n == 1 && err == nil) || !want[i].data && !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Errorf("Read %d = %d, %v; want data %v", i, n, err, want[i].data)
				}
				if d != ms(int(want[i].at)) {
					t.Errorf("Read %d returned at %v, want %v", i, d, ms(int(want[i].at)))
				}
			})
		}
		wg.Wait()
		sl := r.sleepers()
		sl.mu.Lock()
		defer sl.mu.Unlock()
		if len(sl.h) != 0 || sl.armedAt != 0 {
			t.Errorf("after every call returned the heap holds %d entries, timer armed %v", len(sl.h), sl.armedAt != 0)
		}
	})
}

// connSizeBudget is the most a Conn may occupy: the 128-octet size class.
// Every held connection pays it (with the net/http handler on top), so
// what only some connections need goes behind a pointer (recording).
const connSizeBudget = 128

// TestConnSizeBudget fails when a Conn outgrows its budget.
func TestConnSizeBudget(t *testing.T) {
	if n := unsafe.Sizeof(Conn{}); n > connSizeBudget {
		t.Errorf("netconn.Conn is %d octets, over its budget of %d", n, connSizeBudget)
	}
}

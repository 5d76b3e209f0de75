package netspec_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/netspec/netspec"
	"github.com/netspec/netspec/fsm/sock"
)

// serveOne accepts connections on ln, running fn on the first; it reports
// the error of the Accept that ended the loop (net.ErrClosed once the
// listener is closed).
func serveOne(ln net.Listener, fn func(c net.Conn)) <-chan error {
	ended := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			c, err := ln.Accept()
			if err != nil {
				ended <- err
				return
			}
			if i == 0 {
				go fn(c)
			} else {
				c.Close()
			}
		}
	}()
	return ended
}

// shutdownAsync runs s.Shutdown(ctx) and reports its result.
func shutdownAsync(ctx context.Context, s *netspec.Stack) <-chan error {
	res := make(chan error, 1)
	go func() { res <- s.Shutdown(ctx) }()
	return res
}

// waitErr waits (within guard) for the error on ch.
func waitErr(t *testing.T, what string, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(guard):
		t.Fatalf("%s: nothing within %v", what, guard)
		return nil
	}
}

// dialRefused dials addr from a until the SYN is answered with a RST, and
// fails t if anything else happens. Accept returns as soon as Shutdown
// began closing the listener, a moment before the stack drops it: a dial
// in that moment still connects (and is reset with the accept queue), so
// it tries again.
func dialRefused(t *testing.T, a *netspec.Stack, addr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	for {
		c, err := a.Dial(ctx, "tcp", addr)
		switch {
		case errors.Is(err, sock.ErrRefused):
			return
		case err == nil:
			c.Close()
		case !errors.Is(err, sock.ErrReset):
			t.Fatalf("dial %s during shutdown: %v, want connection refused (RST)", addr, err)
		}
	}
}

// TestShutdownFinishesInFlight: Shutdown closes the listener at once (a new
// SYN is refused with RST, Accept returns net.ErrClosed) but lets a response
// in flight finish: the client, which reads it only after Shutdown began,
// gets every byte and the FIN; Shutdown returns nil once the server's FIN is
// acknowledged, and the stack is stopped.
func TestShutdownFinishesInFlight(t *testing.T) {
	a, b := pair(t, nil)
	ln, err := b.Listen("tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, 4<<20)
	rand.NewChaCha8([32]byte{14}).Read(body)
	wrote := make(chan error, 1)
	acceptEnded := serveOne(ln, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(guard))
		_, err := c.Write(body)
		wrote <- errors.Join(err, c.Close())
	})
	c := dial(t, a, "198.18.0.2:80")
	c.SetDeadline(time.Now().Add(guard))
	head := make([]byte, 64<<10)
	if _, err := io.ReadFull(c, head); err != nil {
		t.Fatal(err)
	}

	res := shutdownAsync(context.Background(), b)
	if err := waitErr(t, "Accept after Shutdown", acceptEnded); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept during shutdown: %v, want net.ErrClosed", err)
	}
	dialRefused(t, a, "198.18.0.2:80")
	select {
	case err := <-res:
		t.Fatalf("Shutdown returned (%v) with most of the response unread by the client", err)
	default:
	}

	rest, err := io.ReadAll(c) // to the server's FIN
	if err != nil {
		t.Fatalf("read the rest after Shutdown began: %v", err)
	}
	if got := append(head, rest...); !bytes.Equal(got, body) {
		t.Fatalf("client got %d octets, want the %d sent, byte for byte", len(got), len(body))
	}
	if err := waitErr(t, "server write", wrote); err != nil {
		t.Fatalf("server write and close: %v", err)
	}
	if err := waitErr(t, "Shutdown", res); err != nil {
		t.Fatalf("Shutdown: %v, want nil (drained)", err)
	}
	select {
	case <-b.Done():
	default:
		t.Fatal("the stack still runs after Shutdown returned")
	}
	if _, err := b.Listen("tcp", ":81"); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Listen after Shutdown: %v, want net.ErrClosed", err)
	}
}

// TestShutdownAbortsWhenContextEnds: a connection the application keeps
// open holds Shutdown until its context ends; then the connection is
// aborted, the peer sees the reset, and Shutdown returns the context's error.
func TestShutdownAbortsWhenContextEnds(t *testing.T) {
	a, b := pair(t, nil)
	ln, err := b.Listen("tcp", ":80")
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan net.Conn, 1)
	acceptEnded := serveOne(ln, func(c net.Conn) { held <- c }) // never closed
	c := dial(t, a, "198.18.0.2:80")
	c.SetDeadline(time.Now().Add(guard))
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	sc := <-held
	sc.SetDeadline(time.Now().Add(guard))
	if _, err := io.ReadFull(sc, make([]byte, 5)); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	res := shutdownAsync(ctx, b)
	if err := waitErr(t, "Accept after Shutdown", acceptEnded); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept during shutdown: %v, want net.ErrClosed", err)
	}
	select {
	case err := <-res:
		t.Fatalf("Shutdown returned (%v) while the application holds a connection open", err)
	default:
	}
	cancel() // the drain's bound
	if err := waitErr(t, "Shutdown", res); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown after its context ended: %v, want context.Canceled", err)
	}
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, sock.ErrReset) {
		t.Fatalf("client read after the abort: %v, want connection reset", err)
	}
	if _, err := sc.Write([]byte("x")); err == nil {
		t.Fatal("server write after Shutdown succeeded")
	}
}

// TestShutdownIdle: with no connection Shutdown returns nil at once and the
// stack is stopped; a second Shutdown or Close returns what Close returned.
func TestShutdownIdle(t *testing.T) {
	_, b := pair(t, nil)
	if _, err := b.Listen("tcp", ":80"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	<-b.Done()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close after Shutdown: %v", err)
	}
}

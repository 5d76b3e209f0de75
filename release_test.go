package netspec

import (
	"context"
	"io"
	"testing"
	"time"
)

// TestReleaseWhenQuiet: Options.ReleaseMemory's releaser gives memory back
// once after traffic, when the link has gone quiet, not while nothing was
// sent, not again without new traffic, and it ends with the stack.
func TestReleaseWhenQuiet(t *testing.T) {
	a, b, err := Pipe(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// Each stack announces its address when it starts; the releaser
	// counts traffic from its own start.
	for end := time.Now().Add(10 * time.Second); a.Stats().Loop.TxFrames == 0 || b.Stats().Loop.TxFrames == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("the stacks sent no announcement")
		}
	}
	released := make(chan struct{}, 16)
	ended := make(chan struct{})
	const period = 5 * time.Millisecond
	go func() {
		a.releaseWhenQuiet(period, func() { released <- struct{}{} })
		close(ended)
	}()
	quiet := func(what string) {
		t.Helper()
		select {
		case <-released:
			t.Fatalf("released %s", what)
		case <-time.After(20 * period):
		}
	}
	quiet("before any traffic")

	ln, err := b.Listen("tcp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(c, c)
			c.Close()
		}
	}()
	c, err := a.Dial(context.Background(), "tcp", "198.18.0.2:7")
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("hello")
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	// Half-close and read to the echo server's FIN: once it arrived (and
	// was acknowledged in the same turn of the loop) no frame is left.
	if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(c); err != nil || string(got) != string(msg) {
		t.Fatalf("echo %q, %v", got, err)
	}
	c.Close()
	select {
	case <-released:
	case <-time.After(10 * time.Second):
		t.Fatal("no release after the traffic ended")
	}
	// A loaded machine may have paused the exchange for a period or more
	// (a release then too): drop those before asserting silence.
	time.Sleep(4 * period)
	for len(released) > 0 {
		<-released
	}
	quiet("twice for one spell of traffic")
	a.Close()
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the releaser outlived the stack")
	}
}

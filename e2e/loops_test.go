package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/netspec/netspec"
	"github.com/netspec/netspec/driver/lab/labtest"
)

// TestLoopsDialUDPAndPing runs a stack with two event loops against the
// Linux kernel in the client namespace, the other way round from the
// server tests: connections netspec opens start on both loops in turn and
// each is answered on the loop that opened it (its local port was chosen
// for that), although only loop 0 hears ARP, so loop 1 resolves the
// kernel's address through what loop 0 learned; a UDP socket (loop 0's)
// gets the kernel's datagrams and ping is answered.
func TestLoopsDialUDPAndPing(t *testing.T) {
	labtest.SkipUnlessLab(t)
	l := labtest.ForTest(t)
	labtest.NeedTools(t, "ping")
	opts := &netspec.Options{Loops: 2}
	st := openLabStack(t, l, opts)
	defer st.Close()

	// A kernel echo server in the client namespace.
	var kln net.Listener
	if err := l.RunInClientNS(func() (err error) {
		kln, err = net.Listen("tcp4", l.ClientAddr().Addr().String()+":7000")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer kln.Close()
	go func() {
		for {
			c, err := kln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const conns = 20
	for i := range conns {
		c, err := st.Dial(ctx, "tcp", l.ClientAddr().Addr().String()+":7000")
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		msg := fmt.Sprintf("hello %d", i)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, msg); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
			t.Fatalf("echo %d: %q, %v", i, got, err)
		}
		c.Close()
	}
	for i := range st.Loops() {
		if n, ok := st.LoopCounters(i)["tcp.ActiveOpens"]; !ok || n != conns/2 {
			t.Errorf("loop %d: %d active opens (counter there: %v), want %d", i, n, ok, conns/2)
		}
	}

	pc, err := st.ListenPacket("udp", ":9000")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if err := l.RunInClientNS(func() error {
		c, err := net.Dial("udp4", l.ServerAddr().Addr().String()+":9000")
		if err != nil {
			return err
		}
		defer c.Close()
		for range 3 { // a datagram may go while the client's ARP entry is made
			c.Write([]byte("datagram"))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	if n, _, err := pc.ReadFrom(buf); err != nil || string(buf[:n]) != "datagram" {
		t.Fatalf("UDP: %q, %v", buf[:n], err)
	}
	// -w, not -W: once a reply came, ping waits for the next only
	// max(2 RTT, interval) after its last request, which a loaded machine
	// can exceed (see pingEach); with -w it waits for both replies up to the
	// deadline, sending another request each second meanwhile.
	if out, err := l.ClientCmd(ctx, "ping", "-c", "2", "-w", "15", l.ServerAddr().Addr().String()).CombinedOutput(); err != nil {
		t.Fatalf("ping: %v\n%s", err, out)
	}
	if n, ok := st.LoopCounters(0)["stack.ICMPEchoReplies"]; !ok || n < 2 {
		t.Errorf("loop 0 answered %d echo requests (counter there: %v), want 2 or more", n, ok)
	}
	if n := st.LoopCounters(1)["stack.ICMPEchoReplies"]; n != 0 {
		t.Errorf("loop 1 answered %d echo requests: the fanout program gives ICMP echo to loop 0", n)
	}
}

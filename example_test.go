package netspec_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/netspec/netspec"
	"github.com/netspec/netspec/driver/history"
	"github.com/netspec/netspec/driver/pipe"
	"github.com/netspec/netspec/fuzz/linz"
)

// Serve a web site from netspec on eth1 (as root; the interface should
// have no kernel IPv4 address). This example only compiles: go test cannot
// open an interface. ExamplePipe runs the same code in memory.
func ExampleOpen() {
	st, err := netspec.Open("eth1", netip.MustParsePrefix("198.18.0.2/24"), nil)
	if err != nil {
		log.Fatal(err)
	}
	ln, err := st.Listen("tcp", ":80")
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(http.Serve(ln, http.FileServer(http.Dir("/srv/www"))))
}

// Two stacks in memory: B serves HTTP with net/http, A fetches a page with
// net/http's client dialling through A.
func ExamplePipe() {
	a, b, err := netspec.Pipe(nil) // 198.18.0.1/24 and 198.18.0.2/24
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	defer b.Close()

	ln, err := b.Listen("tcp", ":80")
	if err != nil {
		log.Fatal(err)
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from netspec at %s", b.Prefix().Addr())
	}))

	client := &http.Client{Transport: &http.Transport{DialContext: a.Dial}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("http://198.18.0.2/")
	if err != nil {
		log.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Status, string(body))
	// Output: 200 OK hello from netspec at 198.18.0.2
}

// A megabyte over a link that loses 5 % of the frames in each direction
// (seeded, so the run replays): TCP retransmits and the data arrives whole.
func ExamplePipe_loss() {
	a, b, err := netspec.Pipe(&netspec.PipeConfig{
		AtoB: netspec.Faults{Seed: 1, Loss: 0.05},
		BtoA: netspec.Faults{Seed: 2, Loss: 0.05},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	defer b.Close()

	data := make([]byte, 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	ln, err := b.Listen("tcp", ":9")
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Write(data)
		c.Close() // the data still queued is sent, then the FIN
	}()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := a.Dial(ctx, "tcp", "198.18.0.2:9")
	if err != nil {
		log.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(time.Minute))
	got, err := io.ReadAll(c)
	c.Close()
	if err != nil {
		log.Fatal(err)
	}
	lost := a.Link().(*pipe.End).Stats().Faults.Lost + b.Link().(*pipe.End).Stats().Faults.Lost
	fmt.Printf("received %d bytes, identical: %v\n", len(got), bytes.Equal(got, data))
	fmt.Printf("frames lost: %v, segments retransmitted: %v\n", lost > 0, b.Counters()["tcp.Retransmits"] > 0)
	// Output:
	// received 1048576 bytes, identical: true
	// frames lost: true, segments retransmitted: true
}

// Every event and every drop of the protocol stack has a named counter.
func ExampleStack_Counters() {
	a, b, err := netspec.Pipe(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	ln, err := b.Listen("tcp", ":7")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()

	ctx := context.Background()
	if c, err := a.Dial(ctx, "tcp", "198.18.0.2:7"); err == nil {
		c.Close()
	}
	_, err = a.Dial(ctx, "tcp", "198.18.0.2:8") // nobody listens: refused
	fmt.Println("dial port 8:", err != nil)

	ac, bc := a.Counters(), b.Counters()
	fmt.Println("A tcp.ActiveOpens:", ac["tcp.ActiveOpens"])
	fmt.Println("B tcp.PassiveOpens:", bc["tcp.PassiveOpens"])
	fmt.Println("B tcp.drop.NoConn:", bc["tcp.drop.NoConn"]) // the SYN to port 8, answered with RST
	// Output:
	// dial port 8: true
	// A tcp.ActiveOpens: 2
	// B tcp.PassiveOpens: 1
	// B tcp.drop.NoConn: 1
}

// Record both ends of a connection as a linearizability history and check
// it with porcupine (package fuzz/linz; "netspec hist check FILE" does the
// same for a file written with --history).
func ExampleOptions_history() {
	var buf bytes.Buffer
	hw := history.NewWriter(&buf) // both stacks record into one history
	a, b, err := netspec.Pipe(&netspec.PipeConfig{
		AOptions: &netspec.Options{History: hw},
		BOptions: &netspec.Options{History: hw},
	})
	if err != nil {
		log.Fatal(err)
	}
	ln, err := b.Listen("tcp", ":7")
	if err != nil {
		log.Fatal(err)
	}
	served := make(chan struct{})
	go func() { // echo one connection
		defer close(served)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		io.Copy(c, c)
		c.(interface{ CloseWrite() error }).CloseWrite()
		c.Close()
	}()

	c, err := a.Dial(context.Background(), "tcp", "198.18.0.2:7")
	if err != nil {
		log.Fatal(err)
	}
	c.Write([]byte("hello"))
	c.(interface{ CloseWrite() error }).CloseWrite()
	echo, _ := io.ReadAll(c)
	c.Close()
	<-served
	a.Close()
	b.Close()
	if err := hw.Close(); err != nil {
		log.Fatal(err)
	}

	recs, err := history.ReadHistory(&buf)
	if err != nil {
		log.Fatal(err)
	}
	rep, err := linz.Check(context.Background(), recs, linz.Options{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("echo %q; %d connection, both ends recorded: %v\n", echo, rep.Conns, len(rep.Observed) == 2)
	fmt.Println(rep.Result)
	// Output:
	// echo "hello"; 1 connection, both ends recorded: true
	// linearizable
}

// ListenPacket gives a net.PacketConn: a UDP echo between two stacks.
func ExampleStack_ListenPacket() {
	a, b, err := netspec.Pipe(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	srv, err := b.ListenPacket("udp", ":7")
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		buf := make([]byte, 1500)
		n, from, err := srv.ReadFrom(buf)
		if err == nil {
			srv.WriteTo(bytes.ToUpper(buf[:n]), from)
		}
	}()
	cli, err := a.ListenPacket("udp", ":0")
	if err != nil {
		log.Fatal(err)
	}
	cli.SetReadDeadline(time.Now().Add(10 * time.Second))
	// The first datagram waits in the stack while ARP resolves B.
	if _, err := cli.WriteTo([]byte("ping"), &net.UDPAddr{IP: net.IPv4(198, 18, 0, 2), Port: 7}); err != nil {
		log.Fatal(err)
	}
	buf := make([]byte, 1500)
	n, from, err := cli.ReadFrom(buf)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s from %v\n", buf[:n], from)
	// Output: PING from 198.18.0.2:7
}

package tcp

import (
	"bytes"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/netspec/netspec/fsm/seqnum"
	"github.com/netspec/netspec/fsm/wire"
)

// holdsNothing fails the test when c holds a ring, a transmit-record array
// or a range array (out-of-order ranges, SACK scoreboard).
func holdsNothing(t *testing.T, what string, c *Conn) {
	t.Helper()
	if c.snd.buf.buf != nil || c.rcv.buf.buf != nil || c.snd.txq.s != nil || c.rcv.buf.ooo != nil || c.snd.rec.sb.r != nil {
		t.Errorf("%s: port %d holds a send ring %v, a receive ring %v, transmit records %v, out-of-order ranges %v, a scoreboard %v",
			what, c.key.rport, c.snd.buf.buf != nil, c.rcv.buf.buf != nil, c.snd.txq.s != nil, c.rcv.buf.ooo != nil, c.snd.rec.sb.r != nil)
	}
}

// lentNothing fails the test when a layer has lent an array it was not given back.
func lentNothing(t *testing.T, what string, ls ...*Layer) {
	t.Helper()
	for _, l := range ls {
		if n := l.Counters().RingsLent; n != 0 || l.txPool.lent != 0 || l.oooPool.lent != 0 {
			t.Errorf("%s: %d rings, %d transmit-record arrays and %d range arrays lent with every connection idle", what, n, l.txPool.lent, l.oooPool.lent)
		}
	}
}

// exchange runs one request/response on every client/server pair: the
// client writes req, the server reads it all and answers resp, the client
// reads it all; it returns once everything is read and acknowledged and no
// ACK is owed (the connections are idle).
func exchange(t *testing.T, p *wirePair, clients, servers []*Conn, req, resp []byte) {
	t.Helper()
	got := make([][]byte, len(clients))
	asked := make([][]byte, len(servers))
	toSend := make([][]byte, len(servers))
	sent := make([]bool, len(servers))
	rbuf := make([]byte, 64<<10)
	reqs := make([][]byte, len(clients))
	for i := range reqs {
		reqs[i] = req
	}
	p.runUntil(func() bool {
		done := true
		for i, s := range servers {
			for len(reqs[i]) > 0 {
				n, _ := clients[i].Send(p.now, reqs[i])
				if n == 0 {
					break
				}
				reqs[i] = reqs[i][n:]
			}
			for {
				n, _ := s.Recv(p.now, rbuf)
				if n == 0 {
					break
				}
				asked[i] = append(asked[i], rbuf[:n]...)
			}
			if len(asked[i]) == len(req) && !sent[i] {
				sent[i], toSend[i] = true, resp
			}
			for len(toSend[i]) > 0 {
				n, _ := s.Send(p.now, toSend[i])
				if n == 0 {
					break
				}
				toSend[i] = toSend[i][n:]
			}
			c := clients[i]
			for {
				n, _ := c.Recv(p.now, rbuf)
				if n == 0 {
					break
				}
				got[i] = append(got[i], rbuf[:n]...)
			}
			idle := func(c *Conn) bool {
				return c.tcb.SndUna == c.tcb.SndNxt && c.rcv.delackAt.IsZero() && !c.rcv.ackNow
			}
			done = done && len(got[i]) == len(resp) && idle(c) && idle(s)
		}
		return done
	}, 1<<20)
	for i := range clients {
		if !bytes.Equal(asked[i], req) || !bytes.Equal(got[i], resp) {
			t.Fatalf("pair %d: request or response corrupted", i)
		}
	}
}

// pairs opens n connections from A to B:80.
func pairs(t *testing.T, p *wirePair, n int) (clients, servers []*Conn) {
	t.Helper()
	ln, err := p.b.Listen(p.now, addrB, 80, n, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		c, err := p.a.Connect(p.now, addrA, 0, addrB, 80, uint64(10+i))
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	p.runUntil(func() bool {
		for {
			s, err := ln.Accept(p.now)
			if err != nil {
				break
			}
			servers = append(servers, s)
		}
		return len(servers) == n
	}, 1000)
	return clients, servers
}

// TestIdleConnectionsHoldNoRing: once a request/response exchange is over
// (every octet read by the application and acknowledged), neither end holds
// a send ring, a receive ring or transmit records, and the layers have lent
// none, while every connection stays open (ESTABLISHED) — with small
// messages, with a response that grows the send buffer, and on a link that
// loses, duplicates and reorders segments (out-of-order data held, then
// drained). The next exchange takes rings again and works.
func TestIdleConnectionsHoldNoRing(t *testing.T) {
	for _, tc := range []struct {
		name      string
		f         faults
		req, resp int
	}{
		{"small", faults{}, 80, 200},
		{"bulk response", faults{}, 80, 4 << 20},
		{"bulk request", faults{}, 4 << 20, 13},
		{"faults", faults{loss: 0.05, dup: 0.05, reorder: 0.2}, 3000, 300 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newWirePair(t, 3, Config{}, tc.f)
			clients, servers := pairs(t, p, 8)
			for round := range 3 {
				exchange(t, p, clients, servers, pattern(uint64(round), tc.req), pattern(uint64(round+10), tc.resp))
				for i := range clients {
					if clients[i].State() != StateEstablished || servers[i].State() != StateEstablished {
						t.Fatalf("round %d pair %d: %v / %v", round, i, clients[i].State(), servers[i].State())
					}
					holdsNothing(t, "client", clients[i])
					holdsNothing(t, "server", servers[i])
				}
				lentNothing(t, tc.name, p.a, p.b)
			}
			for i := range clients {
				clients[i].Close(p.now)
				servers[i].Close(p.now)
			}
			p.runUntil(func() bool { return p.a.Quiescent() == nil && p.b.Quiescent() == nil }, 1<<20)
		})
	}
}

// TestGivenBackRingKeepsWindow: a receive ring grown by auto-tuning and
// given back once drained takes back nothing of the window advertised (the
// right edge never moves left, RFC 9293 §3.8.6.2.2, SHLD-14, checked by the
// invariant checker at every step): the idle connection still offers its
// grown window, and the next data takes a ring again and arrives intact.
func TestGivenBackRingKeepsWindow(t *testing.T) {
	_, _, p, server := bulkRun(t, Config{}, bdpPath, 300*time.Millisecond, 0, 0)
	client := p.a.conns[0]
	checkers := []*InvariantChecker{NewInvariantChecker(), NewInvariantChecker()}
	rbuf := make([]byte, 256<<10)
	var got []byte
	run := func(data []byte) {
		t.Helper()
		sent := 0
		p.runUntil(func() bool {
			for sent < len(data) {
				n, _ := client.Send(p.now, data[sent:])
				if n == 0 {
					break
				}
				sent += n
			}
			for {
				n, _ := server.Recv(p.now, rbuf)
				if n == 0 {
					break
				}
				got = append(got, rbuf[:n]...)
			}
			for i, l := range []*Layer{p.a, p.b} {
				if err := checkers[i].Check(p.now, l); err != nil {
					t.Fatal(err)
				}
			}
			return sent == len(data) && client.tcb.SndUna == client.tcb.SndNxt && server.rcv.delackAt.IsZero() && !server.rcv.ackNow
		}, 1<<20)
	}
	run(nil) // what the transfer left in flight
	limit, _ := server.RecvBuffer()
	if limit <= 64<<10 {
		t.Fatalf("receive buffer %d did not grow", limit)
	}
	holdsNothing(t, "receiver after the transfer", server)
	// Receiver SWS avoidance (RFC 9293 §3.8.6.2.2) holds back less than
	// one segment of it, rounded to the window scale.
	if wnd := server.rcv.wnd(); int(wnd) < limit-int(p.b.cfg.MSS)-(1<<server.rcv.shift) {
		t.Fatalf("idle window %d, want the grown buffer %d", wnd, limit)
	}
	got = got[:0]
	data := pattern(5, 3<<20)
	run(data)
	if !bytes.Equal(got, data) {
		t.Fatal("data sent after the ring was given back differs")
	}
	holdsNothing(t, "receiver after the second transfer", server)
}

// BenchmarkIdleConnMemory reports the heap a layer holds per idle
// connection (bytes/conn): n connections, each after one request/response
// (100 octets out, 200 in, everything acknowledged and read) — the Conn, its
// table, demultiplexing and timer entries, and no buffer — and the size of
// a Conn (Conn-bytes; Go adds an 8-octet header to an object of more than
// 512 octets with pointers and rounds up to a size class: 1,016 octets fill
// the 1,024 class, TestConnSizeBudget).
func BenchmarkIdleConnMemory(b *testing.B) {
	const n = 2000
	req, resp := make([]byte, 100), make([]byte, 200)
	rbuf := make([]byte, 512)
	for range b.N {
		o := &capture{}
		l := NewLayer(Config{}, o, rand.New(rand.NewPCG(1, 2)))
		l.issHook = func() seqnum.Value { return 1000 }
		in := func(port uint16, flags wire.TCPFlags, seq, ack uint32, text []byte) {
			h := wire.TCPHeader{SrcPort: 80, DstPort: port, Seq: seq, Ack: ack, Flags: flags, Window: 0xffff}
			s := make([]byte, h.Len()+len(text))
			copy(s[h.Put(s):], text)
			wire.SetTCPChecksum(s, addrA, addrB)
			l.Input(epoch, addrA, addrB, s, false)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range n {
			port := uint16(20000 + i)
			c, err := l.Connect(epoch, addrB, port, addrA, 80, 0)
			if err != nil {
				b.Fatal(err)
			}
			in(port, SYN|ACK, 5000, 1001, nil)
			c.Send(epoch, req)
			in(port, ACK, 5001, 1001+uint32(len(req)), resp)
			if k, _ := c.Recv(epoch, rbuf); k != len(resp) || c.snd.buf.buf != nil || c.rcv.buf.buf != nil {
				b.Fatalf("connection %d: read %d, holds rings %v %v", i, k, c.snd.buf.buf != nil, c.rcv.buf.buf != nil)
			}
			o.segs = o.segs[:0]
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/conn")
		b.ReportMetric(float64(unsafe.Sizeof(Conn{})), "Conn-bytes")
		runtime.KeepAlive(l)
	}
}

// connSizeBudget is the most a Conn may occupy: with the 8-octet header Go
// puts before an object of more than 512 octets with pointers, it fills the
// 1,024-octet size class of Go's allocator (the next is 1,152). An idle connection costs its Conn
// alone (bufpool.go), so a field added here is paid per held connection:
// keep deadlines as ticks (tick.go), counters as the narrowest type that
// holds them, and state used only now and then behind a pointer
// (keepAlive, undoState).
const connSizeBudget = 1016

// twRecordSizeBudget is the most a TIME-WAIT record may occupy (timewait.go).
const twRecordSizeBudget = 144

// TestConnSizeBudget fails when a Conn or a TIME-WAIT record outgrows its
// budget.
func TestConnSizeBudget(t *testing.T) {
	if n := unsafe.Sizeof(Conn{}); n > connSizeBudget {
		t.Errorf("tcp.Conn is %d octets, over its budget of %d", n, connSizeBudget)
	}
	if n := unsafe.Sizeof(twRecord{}); n > twRecordSizeBudget {
		t.Errorf("twRecord is %d octets, over its budget of %d", n, twRecordSizeBudget)
	}
}

package tcp

import (
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/netspec/netspec/fsm/seqnum"
	"github.com/netspec/netspec/fsm/wire"
)

// toTimeWait opens n connections from l (active side, ports 20000+i) and
// closes each into TIME-WAIT with a scripted peer; with data, one octet
// goes each way first (so the buffers have been used).
func toTimeWait(tb testing.TB, l *Layer, o *capture, n int, data bool) {
	in := func(port uint16, flags wire.TCPFlags, seq, ack uint32, text ...byte) {
		h := wire.TCPHeader{SrcPort: 80, DstPort: port, Seq: seq, Ack: ack, Flags: flags, Window: 0xffff}
		b := make([]byte, h.Len()+len(text))
		copy(b[h.Put(b):], text)
		wire.SetTCPChecksum(b, addrA, addrB)
		l.Input(epoch, addrA, addrB, b, false)
	}
	for i := range n {
		port := uint16(20000 + i)
		c, err := l.Connect(epoch, addrB, port, addrA, 80, 0)
		if err != nil {
			tb.Fatal(err)
		}
		in(port, SYN|ACK, 5000, 1001)
		seq, ack := uint32(5001), uint32(1001)
		if data {
			c.Send(epoch, []byte{1})
			in(port, ACK, seq, ack+1, 2)
			c.Recv(epoch, make([]byte, 1))
			seq, ack = seq+1, ack+1
		}
		c.Close(epoch)
		in(port, FIN|ACK, seq, ack+1)
		if c.State() != StateTimeWait {
			tb.Fatalf("connection %d in %v, want TIME-WAIT", i, c.State())
		}
		o.segs = o.segs[:0]
	}
}

// BenchmarkTimeWaitMemory reports the heap held per connection in TIME-WAIT
// (bytes/conn): what a server closing many connections pays for 2*MSL.
func BenchmarkTimeWaitMemory(b *testing.B) {
	b.Run("idle", func(b *testing.B) { benchTimeWait(b, false, false) })
	b.Run("data", func(b *testing.B) { benchTimeWait(b, true, false) })
	// The full Conn kept through TIME-WAIT (before timewait.go's records).
	b.Run("idle-fullconn", func(b *testing.B) { benchTimeWait(b, false, true) })
	b.Run("data-fullconn", func(b *testing.B) { benchTimeWait(b, true, true) })
}

func benchTimeWait(b *testing.B, data, full bool) {
	const n = 2000
	for range b.N {
		o := &capture{}
		l := NewLayer(Config{}, o, rand.New(rand.NewPCG(1, 2)))
		l.issHook = func() seqnum.Value { return 1000 }
		l.twFull = full
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		toTimeWait(b, l, o, n, data)
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/conn")
		runtime.KeepAlive(l)
	}
}

// TestTimeWaitHarness checks the benchmark's driver: every connection
// reaches TIME-WAIT, and all are gone after 2*MSL.
func TestTimeWaitHarness(t *testing.T) {
	o := &capture{}
	l := NewLayer(Config{}, o, rand.New(rand.NewPCG(1, 2)))
	l.issHook = func() seqnum.Value { return 1000 }
	toTimeWait(t, l, o, 10, true)
	if got := l.Counters(); got.Conns != 10 || got.TimeWaitRecords != 10 || len(l.conns) != 0 {
		t.Fatalf("%d connections (%d records, %d full), want 10 TIME-WAIT records", got.Conns, got.TimeWaitRecords, len(l.conns))
	}
	l.Poll(epoch.Add(2 * l.cfg.MSL))
	if got := l.Counters().Conns; got != 0 || len(l.timers) != 0 || len(l.twHeap) != 0 {
		t.Fatalf("%d connections, %d timers, %d record deadlines after 2*MSL", got, len(l.timers), len(l.twHeap))
	}
}

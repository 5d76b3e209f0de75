package ip

import (
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/wire"
)

// A spec change that adds a guard or action without code to match does not
// compile (RxImpl, FragImpl); the machines the receiver runs pass fsmrt's
// check of their functions, cells, rows and counters.
func TestTablesComplete(t *testing.T) {
	r := NewReceiver(Config{Addr: us})
	if err := r.rx.Check(); err != nil {
		t.Errorf("spec/ipv4.fsm: %v", err)
	}
	if err := r.frag.Check(); err != nil {
		t.Errorf("spec/frag.fsm: %v", err)
	}
	// The machines call the methods themselves, not generic wrappers around
	// them: the guards and actions cost what the functions of an array did.
	direct := func(f any, recv, name string) {
		got := runtime.FuncForPC(reflect.ValueOf(f).Pointer()).Name()
		if !strings.HasSuffix(got, "/fsm/ip."+recv+"."+name) {
			t.Errorf("%s is called through %s", name, got)
		}
	}
	for g, f := range r.rx.Funcs().Guards {
		direct(f, "rxRun", "Guard"+RxGuard(g).String())
	}
	for a, f := range r.frag.Funcs().Actions {
		direct(f, "fragRun", "Act"+FragAction(a).String())
	}
	for s, e := range stageOf {
		if RxState(s) != RxStateIdle && e == RxEvHeader {
			t.Errorf("state %v has no stage", RxState(s))
		}
	}
}

// FuzzReceive: any byte string, as a packet or a fragment, costs a counter and
// never a panic, a hang, or memory beyond the configured bounds.
func FuzzReceive(f *testing.F) {
	pl := payloadOf(40, 1)
	for _, x := range fragments(1, pl, 16) {
		f.Add(x, uint8(0))
	}
	f.Add(packet(peer, us, wire.ProtoUDP, []byte("hi"), []byte{1, 7, 3, 0}, nil), uint8(1))
	f.Add([]byte{0x45}, uint8(2))
	f.Fuzz(func(t *testing.T, b []byte, advance uint8) {
		r := NewReceiver(Config{Addr: us, PrefixLen: 24, MaxReassemblies: 4, MemHigh: 4096, MemLow: 2048})
		recsum(b)
		now := t0
		var d Datagram
		for range 3 {
			if r.Receive(now, b, &d) && len(d.Payload) > r.cfg.MaxDatagram {
				t.Fatal("oversized datagram")
			}
			now = now.Add(time.Duration(advance) * time.Second)
			r.Poll(now, func([]byte) {})
			if r.HeldBytes() > 4096 || r.HeldBytes() < 0 || r.Reassemblies() > 4 {
				t.Fatalf("bounds: %d bytes %d slots", r.HeldBytes(), r.Reassemblies())
			}
			if err := r.CheckInvariants(); err != nil {
				t.Fatal(err)
			}
		}
		c := r.Counters()
		var drops uint64
		for _, n := range c.Rx {
			drops += n
		}
		if c.Delivered+drops+c.Fragments < c.Received {
			t.Fatalf("a packet vanished uncounted: %+v", c)
		}
	})
}

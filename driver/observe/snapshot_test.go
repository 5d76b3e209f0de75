package observe

import (
	"reflect"
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fsm/wire"
)

// BenchmarkTake: the part of a scrape that runs inside the event loop (and
// so holds up packets): reading every counter, rule hit and socket.
func BenchmarkTake(b *testing.B) {
	st := stack.New(stack.Config{MAC: wire.MAC{2, 0, 0, 0, 0, 1}, Addr: wire.Addr{198, 18, 0, 2}, PrefixLen: 24, Seed: 1})
	if _, err := st.Listen(time.Unix(0, 0), 80, 128); err != nil {
		b.Fatal(err)
	}
	var s Snapshot
	for i := 0; i < b.N; i++ {
		s = Take(st, nil, time.Unix(0, 0))
	}
	if len(s.Counters) == 0 || len(s.Rules) == 0 || len(s.Sockets) != 1 {
		b.Fatalf("snapshot: %d counters, %d rules, %d sockets", len(s.Counters), len(s.Rules), len(s.Sockets))
	}
}

// TestAppendFields: a driver's Stats struct becomes counters named by its
// fields, an embedded struct's fields by their own names, other kinds
// skipped, each in its group.
func TestAppendFields(t *testing.T) {
	type core struct{ RxFrames, TxErrors uint64 }
	type stats struct {
		core
		KernelDrops uint64
		Name        string
		RingBad     uint32
	}
	got := AppendFields([]Counter{{Name: "x"}}, "afpacket.1.", stats{core: core{RxFrames: 7, TxErrors: 1}, KernelDrops: 3, Name: "skipped", RingBad: 2})
	want := []Counter{
		{Name: "x"},
		{Name: "afpacket.1.RxFrames", Group: "Link", Value: 7},
		{Name: "afpacket.1.TxErrors", Group: "Link", Value: 1},
		{Name: "afpacket.1.KernelDrops", Group: "Link", Value: 3},
		{Name: "afpacket.1.RingBad", Group: "Link", Value: 2},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("AppendFields:\n got %+v\nwant %+v", got, want)
	}
}

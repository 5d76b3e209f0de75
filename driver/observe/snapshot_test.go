package observe

import (
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

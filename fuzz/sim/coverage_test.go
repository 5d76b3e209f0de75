package sim

import (
	"strings"
	"testing"
	"time"

	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fsm/tcp"
	"github.com/netspec/netspec/fuzz/cover"
	"github.com/netspec/netspec/fuzz/scenario"
)

// mustAllow lists MUST-tagged rows that neither the simulator battery nor
// any scenario script (testdata/scenarios, which inject the segments a
// netspec peer never sends) can fire, each with the reason. An entry matches
// rows whose "State Event" cell starts with Cell and whose spec line carries
// Req. Entries that match no unfired row fail the test, so the list cannot go
// stale silently. fuzz/scenario's TestEveryRowFires keeps the same reasons
// for every row, MUST or not.
var mustAllow = []struct{ Cell, Req, Why string }{
	{"", "MUST-41", "OPEN on an existing TCB: the socket API makes a fresh TCB for every OPEN (Listen and Dial never run OpenPassive/OpenActive on a live connection), and a second Listen on a port fails before the table"},
	{"FinWait2 TimeoutUser", "MUST-20", "FIN-WAIT-2 has everything acknowledged, so no retransmission timer runs and R2 cannot expire"},
	{"TimeWait TimeoutUser", "MUST-20", "TIME-WAIT stops the retransmission timer (StartTimeWait), so R2 cannot expire"},
	{"SynReceived SegFin", "MUST-12", "dead row: a FIN reaching SYN-RECEIVED needs an ACK (step 5 drops it otherwise), and an acceptable ACK moves the connection to ESTABLISHED at step 5 before step 8 runs; an unacceptable one is answered by a RST"},
	{"Listen Receive", "MUST-12", "RECEIVE on a listening descriptor: the socket API rejects it before the table (stack.connOf)"},
}

// scenarioDir holds the packetdrill-style scripts (fuzz/scenario).
const scenarioDir = "../../testdata/scenarios"

// battery runs scenarios chosen to fire every MUST row the simulator can
// reach: transfers under faults, both close orders and simultaneous close,
// simultaneous open, resets, and every timeout with the peer black-holed.
func battery(t *testing.T, cov *cover.Coverage) {
	track := func(s *Sim) *Sim {
		for _, h := range s.Hosts() {
			cov.TraceIP(h.Stack.IPReceiver())
		}
		// Poke every connection with an empty RECEIVE and SEND after each
		// step, so the user-call rows fire in whatever state it is in.
		s.OnStep = func() error {
			for _, h := range s.Hosts() {
				h.Stack.TCP().EachConn(func(c *tcp.Conn) {
					c.Recv(s.Now(), nil)
					c.Send(s.Now(), nil)
				})
			}
			return nil
		}
		t.Cleanup(func() {
			for _, h := range s.Hosts() {
				cov.AddLayer(h.Stack.TCP())
			}
		})
		return s
	}
	// Transfers, clean and under every fault.
	echo(t, track(ForTest(t, Config{Seed: 1})), 0, 1, 7, 100<<10)
	echo(t, track(ForTest(t, Config{Seed: 2, Faults: Faults{Loss: 0.05, Duplicate: 0.05, Reorder: 0.05, Corrupt: 0.02}})), 0, 1, 7, 200<<10)
	// Simultaneous open: both sides OPEN actively at once (MUST-10).
	{
		s := track(ForTest(t, Config{Seed: 3}))
		s.Do(0, func(now time.Time, st *stack.Stack) { st.TCP().Connect(now, HostAddr(0), 5000, HostAddr(1), 6000, 0) })
		s.Do(1, func(now time.Time, st *stack.Stack) { st.TCP().Connect(now, HostAddr(1), 6000, HostAddr(0), 5000, 0) })
		s.Advance(time.Second)
		closeAll(t, s)
	}
	// Simultaneous close (CLOSING) and the peer's FIN retransmitted into
	// TIME-WAIT (its ACK lost).
	for _, lose := range []int{0, 1, 2} {
		s := track(ForTest(t, Config{Seed: 4 + uint64(lose)}))
		c, sv := connect(t, s)
		s.Do(0, func(now time.Time, st *stack.Stack) { st.Close(now, c) })
		if lose == 1 {
			s.Force(FaultNone, FaultLoss) // the server's FIN: retransmitted while CLOSING
		}
		s.Do(1, func(now time.Time, st *stack.Stack) { st.Close(now, sv) })
		if lose == 2 {
			s.Advance(10 * time.Millisecond)
			s.Force(FaultLoss) // the client's last ACK: the FIN comes again in TIME-WAIT
		}
		if err := s.Quiesce(100000); err != nil {
			t.Fatal(err)
		}
	}
	// ABORT: the peer gets a RST in ESTABLISHED (MUST-12).
	{
		s := track(ForTest(t, Config{Seed: 8}))
		c, sv := connect(t, s)
		s.Do(0, func(now time.Time, st *stack.Stack) { st.Abort(now, c) })
		s.Quiesce(100000)
		s.Do(1, func(now time.Time, st *stack.Stack) { st.Recv(now, sv, make([]byte, 1)) }) // RECEIVE in CLOSED: "reset"
		s.Do(1, func(now time.Time, st *stack.Stack) { st.Close(now, sv) })
	}
	// Timeouts with the peer black-holed, in each state that retransmits.
	blackhole := func(seed uint64, setup func(s *Sim, c, sv stack.FD)) {
		s := track(ForTest(t, Config{Seed: seed}))
		c, sv := connect(t, s)
		setup(s, c, sv)
		s.Partition(true)
		s.Advance(time.Hour)
	}
	send := func(i int, fd stack.FD) func(now time.Time, st *stack.Stack) {
		return func(now time.Time, st *stack.Stack) { st.Send(now, fd, make([]byte, 3000)) }
	}
	blackhole(10, func(s *Sim, c, sv stack.FD) { s.Do(0, send(0, c)) }) // ESTABLISHED
	blackhole(11, func(s *Sim, c, sv stack.FD) { s.Do(0, func(now time.Time, st *stack.Stack) { st.Close(now, c) }) })
	blackhole(12, func(s *Sim, c, sv stack.FD) { // CLOSE-WAIT with data
		s.Do(1, func(now time.Time, st *stack.Stack) { st.CloseWrite(now, sv) })
		s.Advance(100 * time.Millisecond)
		s.Do(0, send(0, c))
	})
	blackhole(13, func(s *Sim, c, sv stack.FD) { // LAST-ACK
		s.Do(1, func(now time.Time, st *stack.Stack) { st.CloseWrite(now, sv) })
		s.Advance(100 * time.Millisecond)
		s.Do(0, func(now time.Time, st *stack.Stack) { st.Close(now, c) })
	})
	blackhole(14, func(s *Sim, c, sv stack.FD) { // CLOSING
		s.Do(0, func(now time.Time, st *stack.Stack) { st.CloseWrite(now, c) })
		s.Do(1, func(now time.Time, st *stack.Stack) { st.CloseWrite(now, sv) })
		s.Advance(time.Millisecond)
	})
	{ // SYN-SENT and SYN-RECEIVED: the SYN arrives, then a black hole
		s := track(ForTest(t, Config{Seed: 15}))
		s.Do(1, func(now time.Time, st *stack.Stack) { st.Listen(now, 80, 4) })
		s.Do(0, func(now time.Time, st *stack.Stack) { st.Dial(now, HostAddr(1), 80) })
		s.OnFrame = func(from int, f []byte) {
			if from == 1 && !isARP(f) {
				s.Partition(true) // from the SYN-ACK on, nothing gets through
			}
		}
		s.Advance(time.Hour)
	}
	{ // SYN-SENT: nothing gets through at all
		s := track(ForTest(t, Config{Seed: 17}))
		s.Partition(true)
		s.Do(0, func(now time.Time, st *stack.Stack) { st.Dial(now, HostAddr(1), 80) })
		s.Advance(time.Hour)
	}
	// CLOSING: both FINs cross and both ACKs are lost, then a black hole.
	{
		s := track(ForTest(t, Config{Seed: 16}))
		c, sv := connect(t, s)
		s.Do(0, func(now time.Time, st *stack.Stack) { st.CloseWrite(now, c) })
		s.Do(1, func(now time.Time, st *stack.Stack) { st.CloseWrite(now, sv) })
		s.Force(FaultLoss, FaultLoss)
		s.Advance(3 * time.Millisecond)
		s.Partition(true)
		s.Advance(time.Hour)
	}
	// A RST from the peer in FIN-WAIT-1 (our FIN lost), FIN-WAIT-2 and
	// CLOSE-WAIT (MUST-12).
	for i, setup := range []func(s *Sim, c, sv stack.FD){
		func(s *Sim, c, sv stack.FD) {
			s.Force(FaultLoss)
			s.Do(0, func(now time.Time, st *stack.Stack) { st.CloseWrite(now, c) })
		},
		func(s *Sim, c, sv stack.FD) { s.Do(0, func(now time.Time, st *stack.Stack) { st.CloseWrite(now, c) }) },
		func(s *Sim, c, sv stack.FD) { s.Do(1, func(now time.Time, st *stack.Stack) { st.CloseWrite(now, sv) }) },
	} {
		s := track(ForTest(t, Config{Seed: 20 + uint64(i)}))
		c, sv := connect(t, s)
		setup(s, c, sv)
		s.Advance(10 * time.Millisecond)
		s.Do(1, func(now time.Time, st *stack.Stack) { st.Abort(now, sv) })
		s.Advance(time.Hour)
	}
	// The peer's FIN,ACK overtakes its pure ACK of our FIN: FIN-WAIT-1 takes
	// a FIN that acknowledges ours (straight to TIME-WAIT), and the late ACK
	// then arrives in TIME-WAIT (MUST-13, MUST-66).
	{
		s := track(ForTest(t, Config{Seed: 23}))
		c, sv := connect(t, s)
		s.Do(0, func(now time.Time, st *stack.Stack) { st.CloseWrite(now, c) })
		s.Force(FaultReorder) // the server's ACK of our FIN
		s.Advance(time.Millisecond)
		s.Do(1, func(now time.Time, st *stack.Stack) { st.Close(now, sv) })
		s.Do(0, func(now time.Time, st *stack.Stack) { st.Close(now, c) })
		s.Advance(time.Hour)
	}
}

// connect opens a connection from host 0 to host 1 port 80 and returns the
// client and accepted server descriptors.
func connect(t *testing.T, s *Sim) (c, sv stack.FD) {
	t.Helper()
	var ln stack.FD
	sv = -1
	s.Do(1, func(now time.Time, st *stack.Stack) { ln, _ = st.Listen(now, 80, 4) })
	s.Do(0, func(now time.Time, st *stack.Stack) { c, _ = st.Dial(now, HostAddr(1), 80) })
	err := s.Run(func() bool {
		s.Do(1, func(now time.Time, st *stack.Stack) {
			if fd, err := st.Accept(now, ln); err == nil {
				sv = fd
			}
		})
		return sv >= 0
	}, 100000)
	if err != nil {
		t.Fatal(err)
	}
	return c, sv
}

// closeAll lets every connection time out or close, within an hour.
func closeAll(t *testing.T, s *Sim) {
	t.Helper()
	if err := s.Advance(time.Hour); err != nil {
		t.Fatal(err)
	}
}

// TestMustRowsFire fails when a MUST-tagged spec row fires neither in the
// battery nor in any scenario script, unless mustAllow explains why nothing
// can reach it.
func TestMustRowsFire(t *testing.T) {
	var cov cover.Coverage
	t.Run("battery", func(t *testing.T) { battery(t, &cov) })
	battery := cov
	hits, err := scenario.RuleHits(scenarioDir, scenario.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range hits {
		cov.TCP[i] += h
	}
	used := make([]bool, len(mustAllow))
	fired, total := 0, 0
	for _, r := range cov.Rows() {
		if !r.Must() {
			continue
		}
		total++
		if r.Hits > 0 {
			fired++
			continue
		}
		allowed := false
		for i, a := range mustAllow {
			if strings.HasPrefix(r.Cell, a.Cell) && strings.Contains(" "+strings.Join(r.Reqs, " ")+" ", " "+a.Req+" ") {
				used[i], allowed = true, true
			}
		}
		if !allowed {
			t.Errorf("MUST row never fired: %s %s %s %v", r.Src, r.Cell, r.Anchor, r.Reqs)
		}
	}
	for i, u := range used {
		if !u {
			t.Errorf("allow-list entry %q %s matches no unfired row: remove it", mustAllow[i].Cell, mustAllow[i].Req)
		}
	}
	onlyScripts := 0
	for i := range tcp.Rules {
		if (cover.Row{Reqs: tcp.Rules[i].Reqs}).Must() && battery.TCP[i] == 0 && hits[i] > 0 {
			onlyScripts++
		}
	}
	t.Logf("MUST rows fired: %d of %d (%d only by scenario scripts; %d allow-listed)", fired, total, onlyScripts, total-fired)
}

package props

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/leanovate/gopter"
	"github.com/leanovate/gopter/commands"
	"github.com/leanovate/gopter/gen"

	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fuzz/sim"
)

// The stateful test drives two stacks over the fault-injecting simulator with
// gopter/commands: host 0 dials host 1, which listens on port 80 and accepts
// automatically; commands write, read, half-close, close and abort either
// side of up to maxConns connections, advance the virtual clock, and force
// faults on the next frames. After every command the delivered stream of each
// direction must be a prefix of what was sent and every runtime invariant must
// hold (fuzz/sim checks them after every step). When a sequence ends, both
// sides drain, close and wait out TIME-WAIT: a side that saw end of file must
// have received exactly what its peer sent, and afterwards neither stack may
// hold a connection, a TCP timer or a queued frame.

const (
	maxConns = 3
	srvPort  = 80
)

// side selects one end of a connection.
type side int

const (
	client side = iota
	server
)

func (sd side) String() string { return [...]string{"client", "server"}[sd] }

// modelConn is what the command generator knows about a connection.
type modelConn struct {
	closed [2]bool // the side's descriptor was released (Close or Abort)
}

// model is the gopter state: immutable, copied by NextState.
type model struct {
	seed   uint64
	faults int // index into faultMixes
	conns  []modelConn
}

func (m *model) with(fn func(n *model)) *model {
	n := &model{seed: m.seed, faults: m.faults, conns: append([]modelConn(nil), m.conns...)}
	fn(n)
	return n
}

var faultMixes = []sim.Faults{
	{},
	{Loss: 0.05},
	{Loss: 0.02, Duplicate: 0.02, Reorder: 0.05, Corrupt: 0.02, Jitter: 2 * time.Millisecond},
}

// stream is one direction of a connection: what was sent and what arrived.
type stream struct {
	sent, got []byte
	eof       bool  // the reader saw end of file
	err       error // the reader saw a terminal error (reset, timeout)
}

// pair is one connection as the system under test sees it.
type pair struct {
	fd     [2]stack.FD // client, server; server -1 until accepted
	port   uint16      // client's local port, to match the accepted socket
	closed [2]bool
	dir    [2]stream // dir[client] is client->server, dir[server] server->client
	wrote  [2]int    // bytes each side wrote so far (pattern offset)
}

// world is the system under test.
type world struct {
	s     *sim.Sim
	ln    stack.FD
	pairs []*pair
	pcap  bytes.Buffer
	buf   []byte
}

// lastFail keeps the pcap of the most recent failing run (the shrunk one
// when shrinking ends) for the test to write out.
var lastFail struct{ pcap []byte }

func newWorld(m *model) *world {
	w := &world{buf: make([]byte, 64<<10)}
	// Odd seeds hand each instant's frames to a host as one batch
	// (sim.Config.Batch), so receive coalescing runs under the properties too.
	w.s = sim.New(sim.Config{Seed: m.seed, Faults: faultMixes[m.faults], TCP: testTCP, Batch: m.seed%2 == 1})
	pw, _ := sim.NewPcapWriter(&w.pcap)
	w.s.SetPcap(pw)
	w.s.Do(1, func(now time.Time, st *stack.Stack) { w.ln, _ = st.Listen(now, srvPort, 16) })
	return w
}

// host returns the simulator host index of a side.
func host(sd side) int { return int(sd) }

// do runs a user call and accepts pending connections on the server.
func (w *world) do(sd side, fn func(now time.Time, st *stack.Stack)) error {
	if err := w.s.Do(host(sd), fn); err != nil {
		return err
	}
	return w.accept()
}

// accept takes every queued connection and matches it to its pair.
func (w *world) accept() error {
	return w.s.Do(1, func(now time.Time, st *stack.Stack) {
		for {
			fd, err := st.Accept(now, w.ln)
			if err != nil {
				return
			}
			stt, _ := st.Status(fd)
			for _, p := range w.pairs {
				if p.port == stt.RemotePort && p.fd[server] < 0 {
					p.fd[server] = fd
					fd = -1
					break
				}
			}
			if fd >= 0 {
				st.Abort(now, fd) // not ours (cannot happen: one client host)
			}
		}
	})
}

// check asserts the prefix law on every stream.
func (w *world) check() error {
	if err := w.s.Err(); err != nil {
		return err
	}
	for i, p := range w.pairs {
		for d := range p.dir {
			st := &p.dir[d]
			if !bytes.HasPrefix(st.sent, st.got) {
				return fmt.Errorf("conn %d %v->: delivered %d bytes are not a prefix of the %d sent", i, side(d), len(st.got), len(st.sent))
			}
			if st.eof && len(st.got) != len(st.sent) {
				return fmt.Errorf("conn %d %v->: end of file after %d of %d bytes", i, side(d), len(st.got), len(st.sent))
			}
		}
	}
	return nil
}

// read drains what side sd of pair p can read now.
func (w *world) read(p *pair, sd side) error {
	if p.closed[sd] || p.fd[sd] < 0 {
		return nil
	}
	in := &p.dir[1-sd]
	return w.do(sd, func(now time.Time, st *stack.Stack) {
		for !in.eof && in.err == nil {
			k, err := st.Recv(now, p.fd[sd], w.buf)
			in.got = append(in.got, w.buf[:k]...)
			switch {
			case err == io.EOF:
				in.eof = true
			case errors.Is(err, sock.ErrWouldBlock):
				return
			case err != nil:
				in.err = err
			case k == 0:
				return
			}
		}
	})
}

// cmd is one command of the stateful test.
type cmd struct {
	name string
	conn int
	sd   side
	n    int
	d    time.Duration
	f    sim.Fault
}

func (c *cmd) String() string {
	switch c.name {
	case "open":
		return "open"
	case "advance":
		return fmt.Sprintf("advance(%v)", c.d)
	case "fault":
		return fmt.Sprintf("fault(%v×%d)", c.f, c.n)
	case "write":
		return fmt.Sprintf("write(%d,%v,%d)", c.conn, c.sd, c.n)
	}
	return fmt.Sprintf("%s(%d,%v)", c.name, c.conn, c.sd)
}

// Run performs the command on the world and returns the error that breaks
// a law, or nil.
func (c *cmd) Run(sut commands.SystemUnderTest) commands.Result {
	w := sut.(*world)
	var err error
	switch c.name {
	case "open":
		p := &pair{fd: [2]stack.FD{-1, -1}}
		w.pairs = append(w.pairs, p)
		err = w.do(client, func(now time.Time, st *stack.Stack) {
			fd, e := st.Dial(now, sim.HostAddr(1), srvPort)
			if e != nil {
				return
			}
			p.fd[client] = fd
			stt, _ := st.Status(fd)
			p.port = stt.LocalPort
		})
	case "advance":
		err = w.s.Advance(c.d)
		if err == nil {
			err = w.accept()
		}
	case "fault":
		for i := 0; i < c.n; i++ {
			w.s.Force(c.f)
		}
	default:
		p := w.pairs[c.conn]
		if p.closed[c.sd] || p.fd[c.sd] < 0 {
			break
		}
		fd := p.fd[c.sd]
		switch c.name {
		case "write":
			out := &p.dir[c.sd]
			data := pattern(uint64(c.conn*2+int(c.sd)), p.wrote[c.sd], c.n)
			err = w.do(c.sd, func(now time.Time, st *stack.Stack) {
				k, _ := st.Send(now, fd, data)
				out.sent = append(out.sent, data[:k]...)
				p.wrote[c.sd] += k
			})
		case "read":
			err = w.read(p, c.sd)
		case "closewrite":
			err = w.do(c.sd, func(now time.Time, st *stack.Stack) { st.CloseWrite(now, fd) })
		case "close":
			p.closed[c.sd] = true
			err = w.do(c.sd, func(now time.Time, st *stack.Stack) { st.Close(now, fd) })
		case "abort":
			p.closed[c.sd] = true
			err = w.do(c.sd, func(now time.Time, st *stack.Stack) { st.Abort(now, fd) })
		}
	}
	if err == nil {
		err = w.check()
	}
	return err
}

func (c *cmd) NextState(st commands.State) commands.State {
	m := st.(*model)
	switch c.name {
	case "open":
		return m.with(func(n *model) { n.conns = append(n.conns, modelConn{}) })
	case "close", "abort":
		return m.with(func(n *model) { n.conns[c.conn].closed[c.sd] = true })
	}
	return m
}

func (c *cmd) PreCondition(st commands.State) bool {
	m := st.(*model)
	switch c.name {
	case "open":
		return len(m.conns) < maxConns
	case "advance", "fault":
		return true
	}
	return c.conn < len(m.conns) && !m.conns[c.conn].closed[c.sd]
}

func (c *cmd) PostCondition(st commands.State, res commands.Result) *gopter.PropResult {
	if err, _ := res.(error); err != nil {
		return &gopter.PropResult{Status: gopter.PropFalse, Error: err}
	}
	return &gopter.PropResult{Status: gopter.PropTrue}
}

// finish drives both sides of every connection to the end: each open side
// half-closes, reads until end of file or an error, then closes; then the
// simulation runs until nothing is left, and no leaks may remain. It allows
// 10 s in 100 ms steps, then 500 s in 5 s steps, in which a side still
// waiting for the end of file from a peer that closed closes without it.
func (w *world) finish() error {
	for round := 0; round < 200; round++ {
		open := false
		for _, p := range w.pairs {
			for _, sd := range []side{client, server} {
				if p.closed[sd] {
					continue
				}
				if p.fd[sd] < 0 {
					open = true // not yet accepted
					continue
				}
				open = true
				fd := p.fd[sd]
				if err := w.do(sd, func(now time.Time, st *stack.Stack) { st.CloseWrite(now, fd) }); err != nil {
					return err
				}
				if err := w.read(p, sd); err != nil {
					return err
				}
				// Once the peer's application has closed, and the fine
				// steps are over, a side still waiting for the end of file
				// closes anyway, as an application with a read deadline
				// would: the peer's RST, if lost, is never retransmitted
				// (RFC 9293 §3.10.7.1), and it leaves this side half-open in
				// FIN-WAIT-2, where no timer runs while the application holds
				// the connection. Closing orphans it, and the FIN-WAIT-2
				// timeout ends it. While the peer is open, no give-up: a
				// stalled transfer still fails the property.
				if in := &p.dir[1-sd]; in.eof || in.err != nil || round >= 100 && p.closed[1-sd] {
					p.closed[sd] = true
					if err := w.do(sd, func(now time.Time, st *stack.Stack) { st.Close(now, fd) }); err != nil {
						return err
					}
				}
			}
		}
		if err := w.check(); err != nil {
			return err
		}
		if !open {
			break
		}
		// Fine steps first; then coarse ones, so that a connection that
		// cannot complete (a half-close in SYN-SENT keeps it alive until
		// the SYN retries give up, minutes later) still ends.
		step := 100 * time.Millisecond
		if round >= 100 {
			step = 5 * time.Second
		}
		if err := w.s.Advance(step); err != nil {
			return err
		}
		if err := w.accept(); err != nil {
			return err
		}
	}
	for i, p := range w.pairs {
		if !p.closed[client] || !p.closed[server] && p.fd[server] >= 0 {
			return fmt.Errorf("conn %d did not terminate: client closed %v, server closed %v", i, p.closed[client], p.closed[server])
		}
	}
	// The shared end-of-run check: everything closed, every timer run out,
	// nothing left on either host.
	return w.s.Finish()
}

// genCommand generates a command applicable in state m.
func genCommand(st commands.State) gopter.Gen {
	m := st.(*model)
	n := len(m.conns)
	gens := []gen.WeightedGen{
		{Weight: 2, Gen: gen.Const(&cmd{name: "open"})},
		{Weight: 3, Gen: gen.OneConstOf(time.Millisecond, 10*time.Millisecond, 200*time.Millisecond, time.Second, 5*time.Second).
			Map(func(d time.Duration) commands.Command { return &cmd{name: "advance", d: d} })},
		{Weight: 2, Gen: gopter.CombineGens(gen.OneConstOf(sim.FaultLoss, sim.FaultDuplicate, sim.FaultReorder, sim.FaultCorrupt), gen.IntRange(1, 3)).
			Map(func(v []any) commands.Command { return &cmd{name: "fault", f: v[0].(sim.Fault), n: v[1].(int)} })},
	}
	if n > 0 {
		conn := gen.IntRange(0, n-1)
		sd := gen.OneConstOf(client, server)
		op := func(name string, weight int) gen.WeightedGen {
			return gen.WeightedGen{Weight: weight, Gen: gopter.CombineGens(conn, sd).
				Map(func(v []any) commands.Command { return &cmd{name: name, conn: v[0].(int), sd: v[1].(side)} })}
		}
		gens = append(gens,
			gen.WeightedGen{Weight: 6, Gen: gopter.CombineGens(conn, sd, gen.OneConstOf(1, 100, 1460, 5000, 70000)).
				Map(func(v []any) commands.Command {
					return &cmd{name: "write", conn: v[0].(int), sd: v[1].(side), n: v[2].(int)}
				})},
			op("read", 6), op("closewrite", 1), op("close", 1), op("abort", 1))
	}
	return gen.Weighted(gens)
}

var connCommands = &commands.ProtoCommands{
	NewSystemUnderTestFunc: func(st commands.State) commands.SystemUnderTest { return newWorld(st.(*model)) },
	// Finishing a sequence checks termination and leaks; gopter's commands
	// have no final postcondition, so a failure here panics, which gopter
	// reports as a failed case (PropError) and shrinks like any other.
	DestroySystemUnderTestFunc: func(sut commands.SystemUnderTest) {
		w := sut.(*world)
		err := w.finish()
		if err == nil {
			err = w.check()
		}
		if err != nil {
			recordFailure(w)
			panic(fmt.Sprintf("seed %d: finish: %v", w.s.Host(0).Stack.Config().Seed, err))
		}
	},
	InitialStateGen: gopter.CombineGens(gen.UInt64Range(0, 1<<40), gen.IntRange(0, len(faultMixes)-1)).
		Map(func(v []any) *model { return &model{seed: v[0].(uint64), faults: v[1].(int)} }),
	GenCommandFunc: genCommand,
}

// recordFailure keeps the failing run's pcap.
func recordFailure(w *world) {
	lastFail.pcap = append(lastFail.pcap[:0], w.pcap.Bytes()...)
}

// recordingCmd wraps a command to record the pcap when it breaks a law.
type recordingCmd struct{ *cmd }

func TestConnectionCommands(t *testing.T) {
	params := parameters(t, 40)
	params.MaxSize = 40
	props := gopter.NewProperties(params)
	cc := *connCommands
	gc := cc.GenCommandFunc
	cc.GenCommandFunc = func(st commands.State) gopter.Gen {
		return gc(st).Map(func(c commands.Command) commands.Command { return &recordingCmd{c.(*cmd)} })
	}
	props.Property("streams are prefixes, complete on EOF; both sides terminate without leaks", commands.Prop(&cc))
	if !props.Run(gopter.ConsoleReporter(false)) {
		t.Errorf("failed with gopter seed %d (set NETSPEC_PROPS_SEED to replay)", params.Seed())
		if len(lastFail.pcap) > 0 {
			dir := os.Getenv("NETSPEC_PCAP_DIR")
			if dir == "" {
				dir = t.TempDir()
			}
			p := filepath.Join(dir, "commands-failure.pcapng")
			if err := os.WriteFile(p, lastFail.pcap, 0o644); err == nil {
				t.Logf("pcap of the last (shrunk) failing run: %s", p)
			}
		}
	}
}

// Run records the world's pcap when the command breaks a law.
func (r *recordingCmd) Run(sut commands.SystemUnderTest) commands.Result {
	res := r.cmd.Run(sut)
	if err, _ := res.(error); err != nil {
		recordFailure(sut.(*world))
	}
	return res
}

package sim

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fsm/tcp"
	"github.com/netspec/netspec/fsm/wire"
)

// pattern returns n seeded pseudo-random bytes.
func pattern(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// echo runs one connection from client host c to server host sv: the client
// sends size bytes and half-closes, the server echoes them back and closes,
// the client reads all and closes. It checks the bytes, then lets both sides
// finish (TIME-WAIT included) and checks for leaks.
func echo(t *testing.T, s *Sim, c, sv int, port uint16, size int) {
	t.Helper()
	var ln, sfd, cfd stack.FD = -1, -1, -1
	var err error
	do := func(i int, fn func(now time.Time, st *stack.Stack)) {
		t.Helper()
		if e := s.Do(i, fn); e != nil {
			t.Fatalf("seed %d: %v", s.cfg.Seed, e)
		}
	}
	do(sv, func(now time.Time, st *stack.Stack) { ln, err = st.Listen(now, port, 8) })
	if err != nil {
		t.Fatal(err)
	}
	do(c, func(now time.Time, st *stack.Stack) { cfd, err = st.Dial(now, HostAddr(sv), port) })
	if err != nil {
		t.Fatal(err)
	}
	want := pattern(uint64(size)+uint64(port), size)
	var got, pending []byte
	sent, srvEOF, srvClosed, eof := 0, false, false, false
	buf := make([]byte, 16<<10)
	app := func() bool {
		if sfd < 0 {
			do(sv, func(now time.Time, st *stack.Stack) {
				if fd, err := st.Accept(now, ln); err == nil {
					sfd = fd
				}
			})
		}
		do(c, func(now time.Time, st *stack.Stack) {
			for sent < size {
				k, err := st.Send(now, cfd, want[sent:])
				sent += k
				if err != nil || k == 0 {
					break
				}
			}
			// CLOSE in SYN-SENT deletes the TCB (RFC 9293 §3.10.4): half-close
			// only once connected.
			if stt, err := st.Status(cfd); sent == size && err == nil && stt.State != tcp.StateSynSent.String() {
				st.CloseWrite(now, cfd)
			}
		})
		if sfd >= 0 {
			do(sv, func(now time.Time, st *stack.Stack) {
				if !srvEOF {
					k, err := st.Recv(now, sfd, buf)
					pending = append(pending, buf[:k]...)
					if err == io.EOF {
						srvEOF = true
					} else if err != nil && !errors.Is(err, sock.ErrWouldBlock) {
						t.Fatalf("server recv: %v", err)
					}
				}
				for len(pending) > 0 {
					k, err := st.Send(now, sfd, pending)
					pending = pending[k:]
					if err != nil || k == 0 {
						break
					}
				}
				if srvEOF && len(pending) == 0 && !srvClosed {
					st.Close(now, sfd)
					srvClosed = true
				}
			})
		}
		do(c, func(now time.Time, st *stack.Stack) {
			k, err := st.Recv(now, cfd, buf)
			got = append(got, buf[:k]...)
			if err == io.EOF {
				eof = true
			} else if err != nil && !errors.Is(err, sock.ErrWouldBlock) {
				t.Fatalf("client recv: %v", err)
			}
		})
		return eof && srvClosed
	}
	if err := s.Run(app, 5_000_000); err != nil {
		t.Fatalf("seed %d: %v (client got %d of %d)", s.cfg.Seed, err, len(got), size)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("seed %d: echo returned %d bytes of %d, not the same", s.cfg.Seed, len(got), size)
	}
	do(c, func(now time.Time, st *stack.Stack) { st.Close(now, cfd) })
	do(sv, func(now time.Time, st *stack.Stack) { st.Close(now, ln) })
	if err := s.Quiesce(5_000_000); err != nil {
		t.Fatalf("seed %d: %v", s.cfg.Seed, err)
	}
	for _, h := range s.Hosts() {
		if err := h.Leaks(); err != nil {
			t.Fatalf("seed %d: %v", s.cfg.Seed, err)
		}
	}
}

func TestEchoClean(t *testing.T) {
	s := ForTest(t, Config{Seed: 1})
	echo(t, s, 0, 1, 7, 300<<10)
	if s.Stats().Steps == 0 || s.Stats().Lost != 0 {
		t.Fatalf("stats %+v", s.Stats())
	}
}

// TestEchoUnderFaults runs the echo under every kind of fault, with every
// invariant checked after every step.
func TestEchoUnderFaults(t *testing.T) {
	mixes := []Faults{
		{Loss: 0.05},
		{Duplicate: 0.1},
		{Reorder: 0.1, Jitter: 3 * time.Millisecond},
		{Corrupt: 0.05},
		{Loss: 0.02, Duplicate: 0.02, Reorder: 0.05, Corrupt: 0.02, Delay: 10 * time.Millisecond, Jitter: 5 * time.Millisecond},
	}
	seeds := 3
	if testing.Short() {
		seeds = 1
	}
	for mi, f := range mixes {
		for seed := 0; seed < seeds; seed++ {
			s := ForTest(t, Config{Seed: uint64(100*mi + seed), Faults: f})
			echo(t, s, 0, 1, 7, 100<<10)
			st := s.Stats()
			if st.Lost+st.Duplicated+st.Reordered+st.Corrupted == 0 {
				t.Fatalf("mix %d: no fault applied: %+v", mi, st)
			}
		}
	}
}

// TestEchoBatched runs the echo with the frames of each instant handed to
// a host as one batch (Config.Batch), clean and under every kind of fault,
// so TCP's receive coalescing and batch ACKs run under the invariant checks
// after every step: the bytes, the checks and the leak checks must hold as
// unbatched, and segments must have been coalesced (else the batches tested
// nothing).
func TestEchoBatched(t *testing.T) {
	mixes := []Faults{
		{},
		{Loss: 0.05},
		{Duplicate: 0.1},
		{Reorder: 0.1},
		{Corrupt: 0.05},
		{Loss: 0.02, Duplicate: 0.02, Reorder: 0.05, Corrupt: 0.02, Delay: 10 * time.Millisecond},
	}
	seeds := 3
	if testing.Short() {
		seeds = 1
	}
	for mi, f := range mixes {
		var coalesced uint64
		for seed := 0; seed < seeds; seed++ {
			s := ForTest(t, Config{Seed: uint64(100*mi + seed), Faults: f, Batch: true})
			echo(t, s, 0, 1, 7, 200<<10)
			for _, h := range s.Hosts() {
				coalesced += h.Stack.TCP().Counters().SegsCoalesced
			}
		}
		if coalesced == 0 {
			t.Fatalf("mix %d %+v: no segment coalesced in %d runs", mi, f, seeds)
		}
	}
}

// TestThreeStacks runs two clients against one server at once.
func TestThreeStacks(t *testing.T) {
	s := ForTest(t, Config{Seed: 7, Stacks: 3, Faults: Faults{Loss: 0.02}})
	echo(t, s, 0, 2, 80, 50<<10)
	echo(t, s, 1, 2, 81, 50<<10)
	if s.Host(2).Stack.TCP().Counters().PassiveOpens != 2 {
		t.Fatalf("server passive opens %d", s.Host(2).Stack.TCP().Counters().PassiveOpens)
	}
}

// TestDeterministic checks that a seed replays a run exactly, pcap included.
func TestDeterministic(t *testing.T) {
	run := func() ([]byte, Stats) {
		var buf bytes.Buffer
		s := ForTest(t, Config{Seed: 42, Faults: Faults{Loss: 0.05, Reorder: 0.05, Duplicate: 0.05}})
		w, err := NewPcapWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		s.SetPcap(w)
		echo(t, s, 0, 1, 9, 64<<10)
		if uint64(w.Count()) != s.Stats().Delivered {
			t.Fatalf("pcap has %d frames, %d delivered", w.Count(), s.Stats().Delivered)
		}
		return buf.Bytes(), s.Stats()
	}
	p1, s1 := run()
	p2, s2 := run()
	if s1 != s2 || !bytes.Equal(p1, p2) {
		t.Fatalf("same seed, different runs: %+v vs %+v (pcap equal %v)", s1, s2, bytes.Equal(p1, p2))
	}
}

// TestPcapLayout: the run's capture is pcapng that pcapgo reads back, frame
// and timestamp exact.
func TestPcapLayout(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewPcapWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1_700_000_000, 123_456_789)
	if err := w.WritePacket(at, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	r, err := pcapgo.NewNgReader(bytes.NewReader(buf.Bytes()), pcapgo.DefaultNgReaderOptions)
	if err != nil || r.LinkType() != layers.LinkTypeEthernet {
		t.Fatalf("not an Ethernet pcapng capture: %v", err)
	}
	data, ci, err := r.ReadPacketData()
	if err != nil || !bytes.Equal(data, []byte{1, 2, 3}) || !ci.Timestamp.Equal(at) || ci.Length != 3 {
		t.Fatalf("record: % x at %v (len %d), %v", data, ci.Timestamp, ci.Length, err)
	}
	if _, _, err := r.ReadPacketData(); err != io.EOF {
		t.Fatalf("after the one record: %v", err)
	}
}

// tcpFrame builds an Ethernet frame from host 0 to host 1 carrying h and data.
func tcpFrame(h wire.TCPHeader, data []byte) []byte {
	seg := make([]byte, h.Len()+len(data))
	n := h.Put(seg)
	copy(seg[n:], data)
	src, dst := HostAddr(0), HostAddr(1)
	wire.SetTCPChecksum(seg, src, dst)
	f := make([]byte, wire.EthernetHeaderLen+wire.IPv4MinHeaderLen+len(seg))
	wire.PutEthernet(f, HostMAC(1), HostMAC(0), wire.EtherTypeIPv4)
	ih := wire.IPv4Header{TotalLen: wire.IPv4MinHeaderLen + len(seg), TTL: 64, Protocol: wire.ProtoTCP, Src: src, Dst: dst}
	ih.Put(f[wire.EthernetHeaderLen:])
	copy(f[wire.EthernetHeaderLen+wire.IPv4MinHeaderLen:], seg)
	return f
}

// TestWireChecksCatch feeds the wire checker frames that break each wire
// invariant, so none of the checks is vacuous.
func TestWireChecksCatch(t *testing.T) {
	h := &Host{Index: 0}
	ok := wire.TCPHeader{SrcPort: 1000, DstPort: 80, Seq: 10, Ack: 20, Flags: wire.FlagACK, Window: 100}
	cases := []struct {
		name  string
		frame func() []byte
		rst   bool
		want  string
	}{
		{"Fine", func() []byte { return tcpFrame(ok, nil) }, false, ""},
		{"BadTCPChecksum", func() []byte { f := tcpFrame(ok, []byte("x")); f[len(f)-1] ^= 1; return f }, false, "bad checksum"},
		{"BadIPChecksum", func() []byte { f := tcpFrame(ok, nil); f[wire.EthernetHeaderLen+10] ^= 1; return f }, false, "IPv4 header with a bad checksum"},
		{"MSSWithoutSYN", func() []byte { h := ok; h.Opts.HasMSS, h.Opts.MSS = true, 1460; return tcpFrame(h, nil) }, false, "MUST-65"},
		{"NoAck", func() []byte { h := ok; h.Flags = wire.FlagFIN; return tcpFrame(h, nil) }, false, "without ACK"},
		{"DataInReplyToRST", func() []byte { return tcpFrame(ok, []byte("data")) }, true, "in reply to a RST"},
		{"RSTInReplyToRST", func() []byte { h := ok; h.Flags = wire.FlagRST; return tcpFrame(h, nil) }, true, "in reply to a RST"},
		{"ChallengeACKInReplyToRST", func() []byte { return tcpFrame(ok, nil) }, true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var w wireChecker
			w.init()
			var rst *flowKey
			if tc.rst {
				rst = &flowKey{HostAddr(0), HostAddr(1), 1000, 80}
			}
			err := w.frame(h, tc.frame(), rst, Epoch)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tcp.ErrInvariant) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a violation mentioning %q", err, tc.want)
			}
		})
	}
	t.Run("TwoFINs", func(t *testing.T) {
		var w wireChecker
		w.init()
		fin := ok
		fin.Flags |= wire.FlagFIN
		if err := w.frame(h, tcpFrame(fin, nil), nil, Epoch); err != nil {
			t.Fatal(err)
		}
		if err := w.frame(h, tcpFrame(fin, nil), nil, Epoch); err != nil {
			t.Fatalf("a retransmitted FIN is fine: %v", err)
		}
		fin.Seq++
		if err := w.frame(h, tcpFrame(fin, nil), nil, Epoch); !errors.Is(err, tcp.ErrInvariant) {
			t.Fatalf("second FIN sequence number not caught: %v", err)
		}
	})
}

// TestDelayedAckCheckCatches holds an ACK back on purpose (the frames owed
// are lost before the checker sees them) and expects MUST-40 to fire.
func TestDelayedAckCheckCatches(t *testing.T) {
	s := New(Config{Seed: 3}) // the run is meant to fail: no end-of-run check
	var ln, cfd stack.FD
	s.Do(1, func(now time.Time, st *stack.Stack) { ln, _ = st.Listen(now, 80, 4) })
	s.Do(0, func(now time.Time, st *stack.Stack) { cfd, _ = st.Dial(now, HostAddr(1), 80) })
	_ = ln
	if err := s.Run(func() bool { return s.Host(1).Stack.TCP().Counters().Established == 1 }, 10000); err != nil {
		t.Fatal(err)
	}
	s.Do(0, func(now time.Time, st *stack.Stack) { st.Send(now, cfd, []byte("hello")) })
	// Pretend host 1's last ACK never left: wind its flow's record back.
	if err := s.Run(func() bool { return s.InFlight() == 0 && s.Host(0).Stack.TCP().Counters().SegsIn >= 2 }, 10000); err != nil {
		t.Fatal(err)
	}
	for k, f := range s.wc.flows {
		if k.src == HostAddr(1) {
			f.ack--
		}
	}
	if err := s.Do(1, func(time.Time, *stack.Stack) {}); err != nil {
		t.Fatalf("owed ACK reported at once: %v", err)
	}
	err := s.Advance(time.Second)
	if !errors.Is(err, tcp.ErrInvariant) || !strings.Contains(err.Error(), "MUST-40") {
		t.Fatalf("got %v, want a MUST-40 violation", err)
	}
}

package props

import (
	"encoding/binary"
	"errors"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/leanovate/gopter"
	"github.com/leanovate/gopter/gen"
	"github.com/leanovate/gopter/prop"

	"github.com/netspec/netspec/fsm/seqnum"
	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fsm/tcp"
	"github.com/netspec/netspec/fsm/wire"
	"github.com/netspec/netspec/fuzz/sim"
)

// testTCP is the TCP configuration of the simulated stacks: small buffers so
// windows fill and close often.
var testTCP = tcp.Config{SendBuf: 32 << 10, RecvBuf: 16 << 10}

// parameters returns gopter parameters with a fixed seed (NETSPEC_PROPS_SEED
// overrides it) and def successful cases, multiplied by NETSPEC_PROPS_SCALE
// (make check sets it) for deeper runs.
func parameters(t *testing.T, def int) *gopter.TestParameters {
	seed := int64(1)
	if v, err := strconv.ParseInt(os.Getenv("NETSPEC_PROPS_SEED"), 10, 64); err == nil {
		seed = v
	}
	p := gopter.DefaultTestParametersWithSeed(seed)
	p.MinSuccessfulTests = def
	if v, err := strconv.Atoi(os.Getenv("NETSPEC_PROPS_SCALE")); err == nil && v > 0 {
		p.MinSuccessfulTests = def * v
	}
	if testing.Short() {
		p.MinSuccessfulTests = max(1, p.MinSuccessfulTests/10)
	}
	t.Logf("gopter seed %d, %d cases", seed, p.MinSuccessfulTests)
	return p
}

// run checks the properties and fails the test with the seed on failure.
func run(t *testing.T, props *gopter.Properties, p *gopter.TestParameters) {
	t.Helper()
	if !props.Run(gopter.ConsoleReporter(false)) {
		t.Errorf("property failed; replay with NETSPEC_PROPS_SEED=%d", p.Seed())
	}
}

// pattern returns n bytes of stream id starting at offset off: a pure
// function of (id, offset), so the data written does not depend on history.
func pattern(id uint64, off, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		x := uint64(off+i)*0x9e3779b97f4a7c15 + id*0xbf58476d1ce4e5b9
		b[i] = byte(x >> 56)
	}
	return b
}

// nearWrap generates sequence numbers within 2^16 of the 2^32 wrap.
func nearWrap() gopter.Gen {
	return gen.IntRange(-1<<16, 1<<16).Map(func(d int) seqnum.Value { return seqnum.Value(uint32(d)) })
}

// TestSeqnumProps checks RFC 9293 §3.4 modular arithmetic near 2^32.
func TestSeqnumProps(t *testing.T) {
	p := parameters(t, 2000)
	props := gopter.NewProperties(p)
	n := gen.UInt32Range(1, 1<<31-1).Map(func(x uint32) seqnum.Size { return seqnum.Size(x) })
	props.Property("v < v+n for 0 < n < 2^31", prop.ForAll(func(v seqnum.Value, n seqnum.Size) bool {
		w := v.Add(n)
		return v.LessThan(w) && w.GreaterThan(v) && !w.LessThan(v) && v.LessThanEq(w) && w.Sub(v) == n
	}, nearWrap(), n))
	props.Property("exactly one of <, =, > holds", prop.ForAll(func(v, w seqnum.Value) bool {
		k := 0
		for _, b := range []bool{v.LessThan(w), v == w, v.GreaterThan(w)} {
			if b {
				k++
			}
		}
		return k == 1 || uint32(v-w) == 1<<31 // the antipode is neither before nor after
	}, nearWrap(), nearWrap()))
	props.Property("InWindow is v-first < size", prop.ForAll(func(v, first seqnum.Value, size uint32) bool {
		return v.InWindow(first, seqnum.Size(size)) == (uint32(v-first) < size)
	}, nearWrap(), nearWrap(), gen.UInt32Range(0, 1<<20)))
	props.Property("Max and Min pick one of the two and order them", prop.ForAll(func(v, w seqnum.Value) bool {
		hi, lo := seqnum.Max(v, w), seqnum.Min(v, w)
		return (hi == v || hi == w) && (lo == v || lo == w) && lo.LessThanEq(hi)
	}, nearWrap(), nearWrap()))
	run(t, props, p)
}

// genOptions generates TCP options that fit the 40-octet option space.
func genOptions() gopter.Gen {
	return gopter.CombineGens(gen.Bool(), gen.UInt16(), gen.Bool(), gen.UInt8Range(0, wire.MaxWScale), gen.Bool(),
		gen.Bool(), gen.UInt32(), gen.UInt32(), gen.IntRange(0, 3), gen.SliceOfN(4, gen.UInt32())).
		Map(func(v []any) wire.TCPOptions {
			o := wire.TCPOptions{HasMSS: v[0].(bool), HasWScale: v[2].(bool), SACKPermitted: v[4].(bool), HasTimestamps: v[5].(bool)}
			if o.HasMSS {
				o.MSS = v[1].(uint16)
			}
			if o.HasWScale {
				o.WScale = v[3].(uint8)
			}
			if o.HasTimestamps {
				o.TSVal, o.TSEcr = v[6].(uint32), v[7].(uint32)
			}
			xs := v[9].([]uint32)
			o.NumSACK = v[8].(int)
			if o.HasTimestamps {
				o.NumSACK = min(o.NumSACK, 2) // 10+2+8k octets with timestamps and the rest
			}
			if o.HasMSS || o.HasWScale || o.SACKPermitted {
				o.NumSACK = min(o.NumSACK, 1)
			}
			for i := 0; i < o.NumSACK; i++ {
				o.SACK[i] = wire.SACKBlock{Start: xs[i], End: xs[i] + 1 + xs[(i+1)%4]%1000}
			}
			return o
		})
}

// TestHeaderRoundTrips checks that TCP headers with options and IPv4 headers
// survive build then parse unchanged (RFC 9293 §3.1, RFC 791 §3.1).
func TestHeaderRoundTrips(t *testing.T) {
	p := parameters(t, 1000)
	props := gopter.NewProperties(p)
	props.Property("TCP header and options round-trip", prop.ForAll(func(sp, dp uint16, seq, ack uint32, flags uint8, win, up uint16, o wire.TCPOptions) bool {
		h := wire.TCPHeader{SrcPort: sp, DstPort: dp, Seq: seq, Ack: ack, Flags: wire.TCPFlags(flags), Window: win, Urgent: up, Opts: o}
		if h.Len() > wire.TCPMaxHeaderLen {
			return true // not expressible; the generator keeps this rare
		}
		b := make([]byte, h.Len())
		if h.Put(b) != len(b) {
			return false
		}
		v, err := wire.ParseTCP(b)
		if err != nil {
			return false
		}
		g, err := v.Header()
		if err != nil {
			return false
		}
		return g == h && v.DataOffset() == len(b) && len(b)%4 == 0
	}, gen.UInt16(), gen.UInt16(), gen.UInt32(), gen.UInt32(), gen.UInt8(), gen.UInt16(), gen.UInt16(), genOptions()))
	props.Property("IPv4 header round-trips with a valid checksum", prop.ForAll(func(tos, ttl, proto uint8, id uint16, plen int, df bool, src, dst uint32) bool {
		var s, d wire.Addr
		binary.BigEndian.PutUint32(s[:], src)
		binary.BigEndian.PutUint32(d[:], dst)
		h := wire.IPv4Header{TOS: tos, TotalLen: wire.IPv4MinHeaderLen + plen, ID: id, DontFragment: df, TTL: ttl, Protocol: proto, Src: s, Dst: d}
		b := make([]byte, h.TotalLen)
		h.Put(b)
		v, err := wire.ParseIPv4(b)
		return err == nil && v.HeaderChecksumValid() && v.Header() == h
	}, gen.UInt8(), gen.UInt8(), gen.UInt8(), gen.UInt16(), gen.IntRange(0, 1480), gen.Bool(), gen.UInt32(), gen.UInt32()))
	run(t, props, p)
}

// TestIncrementalChecksum checks RFC 1624: updating a checksum for one
// changed 16-bit word equals recomputing it over the whole message, for TCP
// segments (with the pseudo-header) and for IPv4.SetTTL.
func TestIncrementalChecksum(t *testing.T) {
	p := parameters(t, 2000)
	props := gopter.NewProperties(p)
	props.Property("UpdateChecksum equals a full recompute", prop.ForAll(func(data []byte, word int, nv uint16) bool {
		seg := make([]byte, wire.TCPMinHeaderLen+len(data))
		h := wire.TCPHeader{SrcPort: 1, DstPort: 2, Seq: 3, Flags: wire.FlagACK}
		h.Put(seg)
		copy(seg[wire.TCPMinHeaderLen:], data)
		src, dst := wire.Addr{198, 18, 0, 1}, wire.Addr{198, 18, 0, 2}
		wire.SetTCPChecksum(seg, src, dst)
		off := 2 * (word % (len(seg) / 2))
		if off == 16 { // the checksum field itself
			off = 0
		}
		old := binary.BigEndian.Uint16(seg[off:])
		binary.BigEndian.PutUint16(seg[off:], nv)
		inc := wire.UpdateChecksum(binary.BigEndian.Uint16(seg[16:]), old, nv)
		wire.SetTCPChecksum(seg, src, dst)
		full := binary.BigEndian.Uint16(seg[16:])
		binary.BigEndian.PutUint16(seg[16:], inc)
		return inc == full && wire.TCPChecksumValid(seg, src, dst)
	}, gen.SliceOf(gen.UInt8()), gen.IntRange(0, 1<<20), gen.UInt16()))
	props.Property("IPv4.SetTTL keeps the header checksum valid", prop.ForAll(func(ttl0, ttl uint8, id uint16) bool {
		h := wire.IPv4Header{TotalLen: 40, ID: id, TTL: ttl0, Protocol: wire.ProtoTCP, Src: wire.Addr{10, 0, 0, 1}, Dst: wire.Addr{10, 0, 0, 2}}
		b := make([]byte, 40)
		h.Put(b)
		v, _ := wire.ParseIPv4(b)
		v.SetTTL(ttl)
		inc := v.HeaderChecksum()
		h.TTL = ttl
		h.Put(b)
		return v.HeaderChecksumValid() && inc == v.HeaderChecksum()
	}, gen.UInt8(), gen.UInt8(), gen.UInt16()))
	run(t, props, p)
}

// TestRTOLaws checks the RFC 6298 estimator through the whole stack, in
// simulated time: at every step the RTO stays within [RTOMin, RTOMax] and is
// never below the smallest possible round trip (2×one-way delay) once
// sampled; and with the peer black-holed the retransmissions of one segment
// are spaced RTO, 2·RTO, 4·RTO, ... capped at RTOMax (§5.5), until R2 ends
// the connection with a timeout (MUST-20).
func TestRTOLaws(t *testing.T) {
	p := parameters(t, 30)
	props := gopter.NewProperties(p)
	props.Property("RTO bounded, backoff doubles to the cap, R2 times out", prop.ForAll(func(seed uint64, delayMs int, rtoMaxS int) bool {
		cfg := testTCP
		cfg.RTOMax = time.Duration(rtoMaxS) * time.Second
		cfg.MaxRetries = 8
		// The backoff law is RFC 6298's alone: RACK-TLP's tail loss probe
		// (RFC 8985 §7) would add one transmission before the first RTO.
		cfg.NoRACK = true
		delay := time.Duration(delayMs) * time.Millisecond
		// ARP entries outlive the run: a re-resolution during the black hole
		// would hold a retransmission in the ARP queue, out of sight.
		longARP := func(i int, c *stack.Config) { c.ARP.ReachableTime, c.ARP.StaleTime = 24*time.Hour, 48*time.Hour }
		s := sim.New(sim.Config{Seed: seed, TCP: cfg, Faults: sim.Faults{Delay: delay}, Stack: longARP})
		var ln, cfd stack.FD
		s.Do(1, func(now time.Time, st *stack.Stack) { ln, _ = st.Listen(now, 80, 4) })
		s.Do(0, func(now time.Time, st *stack.Stack) { cfd, _ = st.Dial(now, sim.HostAddr(1), 80) })
		bad := ""
		s.OnStep = func() error {
			s.Host(0).Stack.TCP().EachConn(func(c *tcp.Conn) {
				if r := c.RTO(); r < 200*time.Millisecond || r > cfg.RTOMax {
					bad = "RTO " + r.String() + " out of bounds"
				}
			})
			return nil
		}
		if err := s.Run(func() bool { return s.Host(1).Stack.TCP().Counters().Established == 1 }, 100000); err != nil {
			t.Log(err)
			return false
		}
		_ = ln
		// Some clean round trips to sample the RTT.
		for i := 0; i < 5; i++ {
			s.Do(0, func(now time.Time, st *stack.Stack) { st.Send(now, cfd, make([]byte, 100)) })
			s.Advance(time.Second)
		}
		var rto time.Duration
		s.Host(0).Stack.TCP().EachConn(func(c *tcp.Conn) { rto = c.RTO() })
		if rto < 2*delay {
			t.Logf("RTO %v below the round trip %v", rto, 2*delay)
			return false
		}
		// Black hole: time every transmission of the next segment.
		var at []time.Time
		s.OnFrame = func(from int, f []byte) {
			if from == 0 && len(f) > 54 && f[23] == wire.ProtoTCP {
				at = append(at, s.Now())
			}
		}
		s.Partition(true)
		s.Do(0, func(now time.Time, st *stack.Stack) { st.Send(now, cfd, make([]byte, 100)) })
		if err := s.Advance(time.Hour); err != nil {
			t.Log(err)
			return false
		}
		if len(at) != cfg.MaxRetries+1 {
			t.Logf("%d transmissions, want %d", len(at), cfg.MaxRetries+1)
			return false
		}
		gap := at[1].Sub(at[0])
		for i := 2; i < len(at); i++ {
			want := min(2*gap, cfg.RTOMax)
			if g := at[i].Sub(at[i-1]); g != want {
				t.Logf("retransmission %d after %v, want %v (gaps from %v)", i, g, want, at[1].Sub(at[0]))
				return false
			}
			gap = want
		}
		var rerr error
		s.Do(0, func(now time.Time, st *stack.Stack) { _, rerr = st.Recv(now, cfd, make([]byte, 10)) })
		if rerr == nil || !errorsIs(rerr, sock.ErrTimeout) {
			t.Logf("after R2: %v, want a timeout", rerr)
			return false
		}
		if bad != "" {
			t.Log(bad)
			return false
		}
		if err := s.Finish(); err != nil {
			t.Log(err)
			return false
		}
		return true
	}, gen.UInt64Range(0, 1<<30), gen.IntRange(1, 150), gen.IntRange(2, 60)))
	run(t, props, p)
}

// errorsIs is errors.Is, named so the property body reads as a predicate.
func errorsIs(err, target error) bool { return errors.Is(err, target) }

package tcp

import (
	"testing"
)

// step is one line of an RFC 9293 figure: the peer sends in (or the user
// makes call), then we must send exactly out and be in state.
type step struct {
	line  string // the figure's line, for failure messages
	call  func(r *rig)
	in    *seg
	out   []seg
	state State
}

// figure is one of RFC 9293's example exchanges, seen from our side.
type figure struct {
	name  string
	isses []uint32
	setup func(r *rig)
	steps []step
}

func p(s seg) *seg { return &s }

var figures = []figure{
	{
		name:  "Figure 7: basic three-way handshake (we are TCP B, passive)",
		isses: []uint32{300},
		setup: func(r *rig) { r.listen(0) },
		steps: []step{
			{line: "2. SYN-SENT --> <SEQ=100><CTL=SYN> --> SYN-RECEIVED", in: p(seg{flags: SYN, seq: 100}),
				out: []seg{{flags: SYN | ACK, seq: 300, ack: 101}}, state: StateSynReceived},
			{line: "4. ESTABLISHED --> <SEQ=101><ACK=301><CTL=ACK> --> ESTABLISHED", in: p(seg{flags: ACK, seq: 101, ack: 301}),
				state: StateEstablished},
			{line: "5. ESTABLISHED --> <SEQ=101><ACK=301><CTL=ACK><DATA> --> ESTABLISHED", in: p(seg{flags: ACK, seq: 101, ack: 301, data: []byte("data")}),
				state: StateEstablished},
			{line: "(delayed ACK, RFC 9293 §3.8.6.3) ESTABLISHED --> <SEQ=301><ACK=105><CTL=ACK>", call: func(r *rig) { r.advance(r.l.cfg.DelayedACK) },
				out: []seg{{flags: ACK, seq: 301, ack: 105}}, state: StateEstablished},
		},
	},
	{
		name:  "Figure 7: basic three-way handshake (we are TCP A, active)",
		isses: []uint32{100},
		steps: []step{
			{line: "2. SYN-SENT --> <SEQ=100><CTL=SYN>", call: func(r *rig) { r.connect() },
				out: []seg{{flags: SYN, seq: 100}}, state: StateSynSent},
			{line: "3. ESTABLISHED <-- <SEQ=300><ACK=101><CTL=SYN,ACK>", in: p(seg{flags: SYN | ACK, seq: 300, ack: 101}),
				out: []seg{{flags: ACK, seq: 101, ack: 301}}, state: StateEstablished},
			{line: "5. ESTABLISHED --> <SEQ=101><ACK=301><CTL=ACK><DATA>", call: func(r *rig) { r.c.Send(r.now, []byte("data")) },
				out: []seg{{flags: ACK, seq: 101, ack: 301, data: []byte("data")}}, state: StateEstablished},
		},
	},
	{
		name:  "Figure 8: simultaneous connection synchronization (we are TCP A)",
		isses: []uint32{100},
		steps: []step{
			{line: "2. SYN-SENT --> <SEQ=100><CTL=SYN>", call: func(r *rig) { r.connect() },
				out: []seg{{flags: SYN, seq: 100}}, state: StateSynSent},
			{line: "3. SYN-RECEIVED <-- <SEQ=300><CTL=SYN>", in: p(seg{flags: SYN, seq: 300}),
				out: []seg{{flags: SYN | ACK, seq: 100, ack: 301}}, state: StateSynReceived},
			{line: "6. ESTABLISHED <-- <SEQ=300><ACK=101><CTL=SYN,ACK>", in: p(seg{flags: SYN | ACK, seq: 300, ack: 101}),
				state: StateEstablished},
		},
	},
	{
		name:  "Figure 9: recovery from old duplicate SYN (we are TCP A)",
		isses: []uint32{100},
		steps: []step{
			{line: "2. SYN-SENT --> <SEQ=100><CTL=SYN>", call: func(r *rig) { r.connect() },
				out: []seg{{flags: SYN, seq: 100}}, state: StateSynSent},
			{line: "4. SYN-SENT <-- <SEQ=300><ACK=91><CTL=SYN,ACK>  5. --> <SEQ=91><CTL=RST>", in: p(seg{flags: SYN | ACK, seq: 300, ack: 91}),
				out: []seg{{flags: RST, seq: 91}}, state: StateSynSent},
			{line: "7. ESTABLISHED <-- <SEQ=400><ACK=101><CTL=SYN,ACK>  8. --> <SEQ=101><ACK=401><CTL=ACK>", in: p(seg{flags: SYN | ACK, seq: 400, ack: 101}),
				out: []seg{{flags: ACK, seq: 101, ack: 401}}, state: StateEstablished},
		},
	},
	{
		name:  "Figure 9: recovery from old duplicate SYN (we are TCP B)",
		isses: []uint32{300, 400},
		setup: func(r *rig) { r.listen(0) },
		steps: []step{
			{line: "3. ... <SEQ=90><CTL=SYN> --> SYN-RECEIVED  4. <-- <SEQ=300><ACK=91><CTL=SYN,ACK>", in: p(seg{flags: SYN, seq: 90}),
				out: []seg{{flags: SYN | ACK, seq: 300, ack: 91}}, state: StateSynReceived},
			{line: "5. --> <SEQ=91><CTL=RST> --> LISTEN", in: p(seg{flags: RST, seq: 91}), state: StateClosed},
			{line: "6. ... <SEQ=100><CTL=SYN> --> SYN-RECEIVED  7. <-- <SEQ=400><ACK=101><CTL=SYN,ACK>",
				call: func(r *rig) { r.c = nil; r.send(seg{flags: SYN, seq: 100}) },
				out:  []seg{{flags: SYN | ACK, seq: 400, ack: 101}}, state: StateSynReceived},
			{line: "8. --> <SEQ=101><ACK=401><CTL=ACK> --> ESTABLISHED", in: p(seg{flags: ACK, seq: 101, ack: 401}),
				state: StateEstablished},
		},
	},
	{
		name:  "Figure 10: half-open connection discovery (we are TCP A, crashed, reconnecting)",
		isses: []uint32{400},
		steps: []step{
			{line: "3. SYN-SENT --> <SEQ=400><CTL=SYN>", call: func(r *rig) { r.connect() },
				out: []seg{{flags: SYN, seq: 400}}, state: StateSynSent},
			{line: "4. (!!) <-- <SEQ=300><ACK=100><CTL=ACK>  5. SYN-SENT --> <SEQ=100><CTL=RST>", in: p(seg{flags: ACK, seq: 300, ack: 100}),
				out: []seg{{flags: RST, seq: 100}}, state: StateSynSent},
			{line: "7. SYN-SENT --> <SEQ=400><CTL=SYN>: retransmission after the RTO", call: func(r *rig) { r.advance(r.l.cfg.RTOInitial) },
				out: []seg{{flags: SYN, seq: 400}}, state: StateSynSent},
		},
	},
	{
		name:  "Figure 10: half-open connection discovery (we are TCP B, established)",
		isses: []uint32{299},
		setup: func(r *rig) { r.establishedPassive(99, 299) },
		steps: []step{
			{line: "3. --> <SEQ=400><CTL=SYN> --> (??)  4. <-- <SEQ=300><ACK=100><CTL=ACK> (RFC 5961 challenge ACK)", in: p(seg{flags: SYN, seq: 400}),
				out: []seg{{flags: ACK, seq: 300, ack: 100}}, state: StateEstablished},
			{line: "5. --> <SEQ=100><CTL=RST> --> (Abort!!)", in: p(seg{flags: RST, seq: 100}), state: StateClosed},
		},
	},
	{
		name: "Figure 11: active side causes half-open connection discovery (we are TCP A, no TCB)",
		steps: []step{
			{line: "3. <-- <SEQ=300><ACK=100><DATA=10><CTL=ACK>  4. --> <SEQ=100><CTL=RST>", in: p(seg{flags: ACK, seq: 300, ack: 100, data: make([]byte, 10)}),
				out: []seg{{flags: RST, seq: 100}}},
		},
	},
	{
		name:  "Figure 12: old duplicate SYN initiates a reset on two passive sockets (we are TCP A)",
		setup: func(r *rig) { r.listen(0) },
		steps: []step{
			{line: "3. (??) <-- <SEQ=X><ACK=Z+1><CTL=SYN,ACK>  4. --> <SEQ=Z+1><CTL=RST>", in: p(seg{flags: SYN | ACK, seq: 5000, ack: 1001}),
				out: []seg{{flags: RST, seq: 1001}}},
		},
	},
	{
		name:  "Figure 13: normal close sequence (we are TCP A, active close)",
		isses: []uint32{99},
		setup: func(r *rig) { r.establishedActive(99, 299) },
		steps: []step{
			{line: "2. (Close) FIN-WAIT-1 --> <SEQ=100><ACK=300><CTL=FIN,ACK>", call: func(r *rig) { r.c.Close(r.now) },
				out: []seg{{flags: FIN | ACK, seq: 100, ack: 300}}, state: StateFinWait1},
			{line: "3. FIN-WAIT-2 <-- <SEQ=300><ACK=101><CTL=ACK>", in: p(seg{flags: ACK, seq: 300, ack: 101}),
				state: StateFinWait2},
			{line: "4. TIME-WAIT <-- <SEQ=300><ACK=101><CTL=FIN,ACK>  5. --> <SEQ=101><ACK=301><CTL=ACK>", in: p(seg{flags: FIN | ACK, seq: 300, ack: 101}),
				out: []seg{{flags: ACK, seq: 101, ack: 301}}, state: StateTimeWait},
			{line: "6. (2 MSL) CLOSED", call: func(r *rig) { r.advance(2 * r.l.cfg.MSL) }, state: StateClosed},
		},
	},
	{
		name:  "Figure 13: normal close sequence (we are TCP B, passive close)",
		isses: []uint32{299},
		setup: func(r *rig) { r.establishedPassive(99, 299) },
		steps: []step{
			{line: "2. --> <SEQ=100><ACK=300><CTL=FIN,ACK> --> CLOSE-WAIT  3. <-- <SEQ=300><ACK=101><CTL=ACK>", in: p(seg{flags: FIN | ACK, seq: 100, ack: 300}),
				out: []seg{{flags: ACK, seq: 300, ack: 101}}, state: StateCloseWait},
			{line: "4. (Close) LAST-ACK <-- <SEQ=300><ACK=101><CTL=FIN,ACK>", call: func(r *rig) { r.c.Close(r.now) },
				out: []seg{{flags: FIN | ACK, seq: 300, ack: 101}}, state: StateLastAck},
			{line: "5. --> <SEQ=101><ACK=301><CTL=ACK> --> CLOSED", in: p(seg{flags: ACK, seq: 101, ack: 301}),
				state: StateClosed},
		},
	},
	{
		name:  "Figure 14: simultaneous close sequence (we are TCP A)",
		isses: []uint32{99},
		setup: func(r *rig) { r.establishedActive(99, 299) },
		steps: []step{
			{line: "2. (Close) FIN-WAIT-1 --> <SEQ=100><ACK=300><CTL=FIN,ACK>", call: func(r *rig) { r.c.Close(r.now) },
				out: []seg{{flags: FIN | ACK, seq: 100, ack: 300}}, state: StateFinWait1},
			{line: "2. <-- <SEQ=300><ACK=100><CTL=FIN,ACK>  3. CLOSING --> <SEQ=101><ACK=301><CTL=ACK>", in: p(seg{flags: FIN | ACK, seq: 300, ack: 100}),
				out: []seg{{flags: ACK, seq: 101, ack: 301}}, state: StateClosing},
			{line: "3. <-- <SEQ=301><ACK=101><CTL=ACK>  4. TIME-WAIT", in: p(seg{flags: ACK, seq: 301, ack: 101}),
				state: StateTimeWait},
			{line: "4. (2 MSL) CLOSED", call: func(r *rig) { r.advance(2 * r.l.cfg.MSL) }, state: StateClosed},
		},
	},
}

// TestRFC9293Figures replays RFC 9293's example exchanges (§3.5, §3.5.1,
// §3.6) line by line.
func TestRFC9293Figures(t *testing.T) {
	for _, f := range figures {
		t.Run(f.name, func(t *testing.T) {
			r := newRig(t, Config{}, f.isses...)
			if f.setup != nil {
				f.setup(r)
			}
			for _, s := range f.steps {
				switch {
				case s.call != nil:
					s.call(r)
				case s.in != nil:
					r.send(*s.in)
				}
				for _, o := range s.out {
					r.recv(o)
				}
				if len(r.o.segs) > 0 {
					t.Errorf("after %q:", s.line)
					r.recvNothing()
				}
				if r.c != nil && r.c.State() != s.state {
					t.Fatalf("after %q: state %v, want %v", s.line, r.c.State(), s.state)
				}
			}
		})
	}
}

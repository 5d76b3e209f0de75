package observe

import (
	"reflect"
	"time"

	"github.com/netspec/netspec/driver"
	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fsm/tcp"
)

// Snapshot is what a running stack shows: its counters, the hits of every
// spec row and its TCP sockets, at one instant. It is what the control
// socket sends as JSON (`netspec stat --json`, `netspec ss --json`).
type Snapshot struct {
	Iface    string     `json:"iface,omitempty"`
	Addr     string     `json:"addr,omitempty"` // the stack's address and prefix
	Time     time.Time  `json:"time"`           // when it was taken (the loop's clock)
	Counters []Counter  `json:"counters"`
	Rules    []RuleHits `json:"rules"`
	Sockets  []Socket   `json:"sockets"`
}

// Counter is one named counter (docs/counters.md), its netstat -s group
// and its value. A gauge is a level (connections now), not a count.
type Counter struct {
	Name  string `json:"name"` // "tcp.ActiveOpens", "ip.drop.BadChecksum"
	Group string `json:"group"`
	Value uint64 `json:"value"`
	Gauge bool   `json:"gauge,omitempty"`
}

// RuleHits is how often one spec row fired, with where it comes from.
type RuleHits struct {
	Machine string `json:"machine"` // "tcp"
	Src     string `json:"src"`     // spec file and line, "spec/tcp.fsm:118"
	Anchor  string `json:"anchor"`  // RFC clause
	State   string `json:"state"`
	Event   string `json:"event"`
	Hits    uint64 `json:"hits"`
}

// Socket is one TCP socket, as `netspec ss` lists it. Durations are in
// microseconds, windows and queues in octets.
type Socket struct {
	State    string `json:"state"` // tcp.State's name, "Established"
	Local    string `json:"local"` // "198.18.0.2:80"
	Remote   string `json:"remote"`
	FD       int    `json:"fd"` // -1: no descriptor (not accepted yet, TIME-WAIT record)
	RecvQ    int    `json:"recv_q"`
	SendQ    int    `json:"send_q"`
	SynQ     int    `json:"syn_q,omitempty"` // listeners: embryonic connections
	SRTTus   int64  `json:"srtt_us"`
	RTTVarus int64  `json:"rttvar_us"`
	RTOus    int64  `json:"rto_us"`
	Cwnd     uint32 `json:"cwnd"`
	Ssthresh uint32 `json:"ssthresh"`
	MSS      int    `json:"mss"`
	SndWnd   uint32 `json:"snd_wnd"`
	RcvWnd   uint32 `json:"rcv_wnd"`
	Retries  int    `json:"retries"` // retransmissions of the oldest segment without progress
	// Rule is the spec row that last fired for this connection, for a
	// segment (the last stage of its pipeline), a user call or a timer
	// ("spec/tcp.fsm:118"); empty for listeners and TIME-WAIT records.
	Rule string `json:"rule"`
	// Loop is the event loop whose stack holds the socket (0 with one loop;
	// with several, each listens on every loop and a connection lives on
	// the loop its flow hashes to).
	Loop int `json:"loop"`
}

// Take reads a snapshot of st; loop, if not nil, adds its Loop counters.
// It must run where st may be read: inside the event loop (driver.Loop.Do)
// or after the loop stopped.
func Take(st *stack.Stack, loop *driver.LoopStats, now time.Time) Snapshot {
	s := Snapshot{Time: now}
	st.EachCounter(func(name string, v uint64) {
		s.Counters = append(s.Counters, Counter{Name: name, Group: Group(name), Value: v, Gauge: IsGauge(name)})
	})
	if loop != nil {
		s.Counters = AppendFields(s.Counters, "loop.", *loop)
	}
	hits := &st.TCP().Counters().RuleHits
	s.Rules = make([]RuleHits, len(tcp.Rules))
	for i := range tcp.Rules {
		r := &tcp.Rules[i]
		s.Rules[i] = RuleHits{Machine: "tcp", Src: r.Src, Anchor: r.Anchor, State: r.State.String(), Event: r.Event.String(), Hits: hits[i]}
	}
	for _, ts := range st.TCPSockets(nil) {
		s.Sockets = append(s.Sockets, socketOf(ts))
	}
	return s
}

// AppendFields appends the unsigned integer fields of the struct v to cs
// as counters named prefix+field, those of its embedded structs by their
// own field names (a driver's Stats embeds the link core's).
func AppendFields(cs []Counter, prefix string, v any) []Counter {
	return appendFields(cs, prefix, reflect.ValueOf(v))
}

func appendFields(cs []Counter, prefix string, v reflect.Value) []Counter {
	for i := 0; i < v.NumField(); i++ {
		f, fv := v.Type().Field(i), v.Field(i)
		switch {
		case f.Anonymous && fv.Kind() == reflect.Struct:
			cs = appendFields(cs, prefix, fv)
		case fv.CanUint():
			name := prefix + f.Name
			cs = append(cs, Counter{Name: name, Group: Group(name), Value: fv.Uint(), Gauge: IsGauge(name)})
		}
	}
	return cs
}

func socketOf(ts stack.TCPSocket) Socket {
	remote, rule := "", ""
	if ts.State != tcp.StateListen {
		remote = hostPort(ts.Remote.String(), ts.RPort)
	}
	if ts.Rule >= 0 && ts.Rule < len(tcp.Rules) {
		rule = tcp.Rules[ts.Rule].Src
	}
	return Socket{
		State: ts.State.String(), Local: hostPort(ts.Local.String(), ts.LPort), Remote: remote, FD: int(ts.FD),
		RecvQ: ts.RecvQ, SendQ: ts.SendQ, SynQ: ts.SynQ,
		SRTTus: ts.SRTT.Microseconds(), RTTVarus: ts.RTTVar.Microseconds(), RTOus: ts.RTO.Microseconds(),
		Cwnd: ts.Cwnd, Ssthresh: ts.Ssthresh, MSS: ts.MSS, SndWnd: ts.SndWnd, RcvWnd: ts.RcvWnd, Retries: ts.Retries, Rule: rule,
	}
}

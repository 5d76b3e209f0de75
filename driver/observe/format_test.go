package observe

import (
	"strings"
	"testing"
)

// TestWriteSS: states take ss's names, cwnd and ssthresh are counted in
// segments (the infinite initial ssthresh left out), a socket without a
// descriptor shows "-", and listeners and TIME-WAIT records get no second line.
func TestWriteSS(t *testing.T) {
	s := Snapshot{Sockets: []Socket{
		{State: "Listen", Local: "198.18.0.2:80", FD: 0, SendQ: 128},
		{State: "Established", Local: "198.18.0.2:80", Remote: "198.18.0.1:4000", FD: 3, RecvQ: 10, SendQ: 20,
			SRTTus: 1500, RTTVarus: 750, RTOus: 201000, Cwnd: 14480, Ssthresh: 1 << 30, MSS: 1448, Retries: 2},
		{State: "SynReceived", Local: "198.18.0.2:80", Remote: "198.18.0.1:4001", FD: -1, Cwnd: 2896, Ssthresh: 4344, MSS: 1448, Rule: "spec/tcp.fsm:143"},
		{State: "TimeWait", Local: "198.18.0.2:80", Remote: "198.18.0.1:3999", FD: -1},
	}}
	var b strings.Builder
	if err := WriteSS(&b, s); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	want := [][]string{
		{"State", "Recv-Q", "Send-Q"},
		{"LISTEN", "0", "128", "198.18.0.2:80", "*:*", "fd=0"},
		{"ESTAB", "10", "20", "198.18.0.1:4000", "fd=3"},
		{"rto:201", "rtt:1.5/0.75", "mss:1448", "cwnd:10", "retrans:2", "rule:-"},
		{"SYN-RECV", "198.18.0.1:4001", " -"},
		{"cwnd:2", "ssthresh:3", "rule:spec/tcp.fsm:143"},
		{"TIME-WAIT", "198.18.0.1:3999"},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), b.String())
	}
	for i, ws := range want {
		for _, w := range ws {
			if !strings.Contains(lines[i], w) {
				t.Errorf("line %d %q lacks %q", i, lines[i], w)
			}
		}
	}
	if strings.Contains(lines[3], "ssthresh") {
		t.Errorf("infinite ssthresh shown: %q", lines[3])
	}
	if strings.Contains(b.String(), "loop=") {
		t.Errorf("one loop, but the loop is named:\n%s", b.String())
	}

	// With several loops each socket names its own: a listener per loop.
	s.Sockets = append(s.Sockets, Socket{State: "Listen", Local: "198.18.0.2:80", FD: 0, SendQ: 128, Loop: 1})
	b.Reset()
	if err := WriteSS(&b, s); err != nil {
		t.Fatal(err)
	}
	lines = strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if !strings.Contains(lines[1], "fd=0,loop=0") || !strings.Contains(lines[len(lines)-1], "fd=0,loop=1") || !strings.Contains(lines[4], " -,loop=0") {
		t.Errorf("loops not named:\n%s", b.String())
	}
}

// TestGroup: counters land in their netstat -s group; only RFC 4022's TCP
// counters are Tcp, the rest TcpExt; unknown names are Other.
func TestGroup(t *testing.T) {
	for name, want := range map[string]string{
		"link.drop.bad_fcs": "Link", "link.drop.arp_failed": "Arp", "stack.ARPRepliesOut": "Arp",
		"ip.drop.BadChecksum": "Ip", "stack.IPNoRoute": "Ip", "ip.frag.drop.Timeout": "Reasm", "ip.Reassembled": "Reasm",
		"stack.ICMPIn": "Icmp", "tcp.ActiveOpens": "Tcp", "tcp.drop.Checksum": "Tcp", "tcp.RACKLosses": "TcpExt",
		"stack.TCPSoftErrors": "TcpExt", "udp.drop.no_port": "Udp", "loop.RxFrames": "Loop", "what.ever": "Other",
	} {
		if got := Group(name); got != want {
			t.Errorf("Group(%s) = %s, want %s", name, got, want)
		}
	}
}

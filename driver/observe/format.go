package observe

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// WriteStat prints the snapshot's counters grouped like `netstat -s`: a
// "Group:" line, then one counter a line, value first, under its name from
// docs/counters.md; then the spec rows that fired, with their hit counts.
func WriteStat(w io.Writer, s Snapshot) error {
	byGroup := map[string][]Counter{}
	for _, c := range s.Counters {
		byGroup[c.Group] = append(byGroup[c.Group], c)
	}
	width := 1
	for _, c := range s.Counters {
		width = max(width, len(strconv.FormatUint(c.Value, 10)))
	}
	bw := bufio.NewWriter(w)
	for _, g := range append(Groups, "Other") {
		if len(byGroup[g]) == 0 {
			continue
		}
		fmt.Fprintf(bw, "%s:\n", g)
		for _, c := range byGroup[g] {
			fmt.Fprintf(bw, "    %*d %s\n", width, c.Value, c.Name)
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "Rules: (spec rows that fired)")
	for _, r := range s.Rules {
		if r.Hits > 0 {
			fmt.Fprintf(tw, "    %d\t%s\t%s/%s\t@ %s\n", r.Hits, r.Src, r.State, r.Event, r.Anchor)
		}
	}
	return tw.Flush()
}

// ssStates are ss's names of the RFC 9293 states.
var ssStates = map[string]string{
	"Closed": "UNCONN", "Listen": "LISTEN", "SynSent": "SYN-SENT", "SynReceived": "SYN-RECV",
	"Established": "ESTAB", "FinWait1": "FIN-WAIT-1", "FinWait2": "FIN-WAIT-2", "CloseWait": "CLOSE-WAIT",
	"Closing": "CLOSING", "LastAck": "LAST-ACK", "TimeWait": "TIME-WAIT",
}

// infiniteSsthresh is the slow-start threshold before any loss (RFC 5681
// §3.1 "arbitrarily high"); ss omits it, and so do we.
const infiniteSsthresh = 1 << 30

// WriteSS prints the snapshot's TCP sockets like `ss -tani`: state, queues,
// addresses and descriptor, then an indented line of the connection's
// internals (RTT and its variance and the RTO in ms, MSS, cwnd and ssthresh
// in segments, windows in octets, retransmissions, the spec row that last
// fired). With several event loops the Process column names the loop that
// holds each socket (loop=N).
func WriteSS(w io.Writer, s Snapshot) error {
	several := false
	for _, so := range s.Sockets {
		several = several || so.Loop > 0
	}
	tw := tabwriter.NewWriter(w, 0, 8, 1, ' ', 0)
	fmt.Fprintln(tw, "State\tRecv-Q\tSend-Q\tLocal Address:Port\tPeer Address:Port\tProcess")
	for _, so := range s.Sockets {
		state := ssStates[so.State]
		if state == "" {
			state = strings.ToUpper(so.State)
		}
		peer, fd := so.Remote, "-"
		if peer == "" {
			peer = "*:*"
		}
		if so.FD >= 0 {
			fd = fmt.Sprintf("fd=%d", so.FD)
		}
		if several {
			fd += fmt.Sprintf(",loop=%d", so.Loop)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\n", state, so.RecvQ, so.SendQ, so.Local, peer, fd)
		if so.State == "Listen" || so.State == "TimeWait" {
			continue
		}
		fmt.Fprintf(tw, "\t %s\n", details(so))
	}
	return tw.Flush()
}

// details is the second line of one connection, in ss -i's vocabulary.
func details(so Socket) string {
	ms := func(us int64) string {
		return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", float64(us)/1000), "0"), ".")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "rto:%s", ms(so.RTOus))
	if so.SRTTus > 0 {
		fmt.Fprintf(&b, " rtt:%s/%s", ms(so.SRTTus), ms(so.RTTVarus))
	}
	mss := max(so.MSS, 1)
	fmt.Fprintf(&b, " mss:%d cwnd:%d", so.MSS, int(so.Cwnd)/mss)
	if so.Ssthresh != 0 && so.Ssthresh < infiniteSsthresh {
		fmt.Fprintf(&b, " ssthresh:%d", int(so.Ssthresh)/mss)
	}
	fmt.Fprintf(&b, " snd_wnd:%d rcv_wnd:%d retrans:%d", so.SndWnd, so.RcvWnd, so.Retries)
	rule := so.Rule
	if rule == "" {
		rule = "-"
	}
	fmt.Fprintf(&b, " rule:%s", rule)
	return b.String()
}

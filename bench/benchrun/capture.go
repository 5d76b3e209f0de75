package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// capDur is the length of the captured wrk run of closeSegments: short, so
// client ports are rarely reused within it (a reused port is told apart by
// its new SYN all the same).
const capDur = 3

// closeSegments runs wrk with Connection: close again, for capDur seconds,
// while tcpdump captures the client's veth, and reports what the
// connections looked like on the wire: segments per connection (both ways
// and the server's), the share whose FIN the client sent first (it then
// holds the TIME-WAIT, and the server answers a FIN in ESTABLISHED), the
// share of server FINs that rode on the response's last data segment, and
// the share reset. The capture costs CPU, so this run's rate is not a
// figure; the figures of closeConns are measured without it.
func (e *env) closeSegments(ctx context.Context, r *runner) (map[string]float64, error) {
	file := filepath.Join(r.work, fmt.Sprintf("%s-%d.pcap", e.srv.Name, labSeq))
	defer os.Remove(file)
	cctx, cancel := context.WithTimeout(ctx, time.Duration(capDur+30)*time.Second)
	defer cancel()
	cmd := exec.CommandContext(cctx, "ip", "netns", "exec", e.lab.ClientNS(),
		"tcpdump", "-i", e.lab.ClientIface(), "-n", "-s", "96", "-B", "65536", "-w", file, "tcp", "port", "80")
	cmd.WaitDelay = 2 * time.Second
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("tcpdump: %w", err)
	}
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var log []string
	listening := false
	for !listening {
		select {
		case l, ok := <-lines:
			if !ok {
				cmd.Wait()
				return nil, fmt.Errorf("tcpdump exited: %s", strings.Join(log, "; "))
			}
			log = append(log, l)
			listening = strings.Contains(l, "listening on")
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			cmd.Wait()
			return nil, errors.New("tcpdump not listening after 10 s")
		}
	}
	_, werr := e.client(ctx, capDur*time.Second+30*time.Second, "wrk", "-t2", "-c50", fmt.Sprintf("-d%ds", capDur), "--timeout", "5s", "-H", "Connection: close", "http://"+serverAddr+"/hello")
	cmd.Process.Signal(syscall.SIGINT)
	for l := range lines {
		log = append(log, l)
	}
	cmd.Wait()
	if werr != nil {
		return nil, werr
	}
	for _, l := range log {
		if strings.HasSuffix(l, "packets dropped by kernel") && !strings.HasPrefix(l, "0 ") {
			r.note("%s: capture: %s", e.srv.Name, l)
		}
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := closeStats(bufio.NewReader(f), 80)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	if st.conns == 0 {
		return nil, errors.New("capture: no whole connection")
	}
	n := float64(st.conns)
	return map[string]float64{
		"cc_segs":     float64(st.segs) / n,
		"cc_srv_segs": float64(st.srvSegs) / n,
		"cc_cli_fin":  100 * float64(st.cliFinFirst) / n,
		"cc_fin_data": 100 * float64(st.finOnData) / n,
		"cc_rst":      100 * float64(st.reset) / n,
	}, nil
}

// connStats sums the whole connections of a capture: those whose SYN and
// both FINs (or a RST) it holds.
type connStats struct {
	conns       int
	segs        int // segments both ways
	srvSegs     int // segments the server sent
	cliFinFirst int // connections whose client FIN came before the server's
	finOnData   int // server FINs on a segment that carries data
	reset       int // connections with a RST either way
}

// capConn is one connection being read from the capture.
type capConn struct {
	isn           uint32
	segs, srvSegs int
	cliFin        bool
	srvFin        bool
	cliFirst      bool
	finData       bool
	rst           bool
}

// add counts c when the capture holds all of it.
func (s *connStats) add(c *capConn) {
	if c == nil || !(c.rst || c.cliFin && c.srvFin) {
		return
	}
	s.conns++
	s.segs += c.segs
	s.srvSegs += c.srvSegs
	if c.cliFirst {
		s.cliFinFirst++
	}
	if c.finData {
		s.finOnData++
	}
	if c.rst {
		s.reset++
	}
}

// closeStats reads a classic pcap file of Ethernet frames (tcpdump -w) and
// sums the connections to port srvPort, told apart by the client's port
// and the ISN of its SYN.
func closeStats(r io.Reader, srvPort uint16) (connStats, error) {
	var st connStats
	var hdr [24]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return st, err
	}
	var bo binary.ByteOrder
	switch binary.LittleEndian.Uint32(hdr[:]) {
	case 0xa1b2c3d4, 0xa1b23c4d:
		bo = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		bo = binary.BigEndian
	default:
		return st, errors.New("not a pcap file")
	}
	if lt := bo.Uint32(hdr[20:]); lt != 1 {
		return st, fmt.Errorf("link type %d, want Ethernet", lt)
	}
	conns := map[uint16]*capConn{}
	buf := make([]byte, 0, 256)
	var rec [16]byte
	for {
		if _, err := io.ReadFull(r, rec[:]); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				break
			}
			return st, err
		}
		n := bo.Uint32(rec[8:])
		if n > 1<<18 {
			return st, fmt.Errorf("record of %d octets", n)
		}
		buf = buf[:0]
		if cap(buf) < int(n) {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(r, buf); err != nil {
			break
		}
		seg, ok := parseTCP4(buf)
		if !ok {
			continue
		}
		fromSrv := seg.sport == srvPort
		port := seg.dport
		if !fromSrv {
			if seg.dport != srvPort {
				continue
			}
			port = seg.sport
		}
		c := conns[port]
		if !fromSrv && seg.flags&(flagSYN|flagACK) == flagSYN && (c == nil || c.isn != seg.seq) {
			st.add(c)
			c = &capConn{isn: seg.seq}
			conns[port] = c
		}
		if c == nil {
			continue // begun before the capture
		}
		c.segs++
		if fromSrv {
			c.srvSegs++
		}
		if seg.flags&flagRST != 0 {
			c.rst = true
		}
		if seg.flags&flagFIN != 0 {
			if fromSrv && !c.srvFin {
				c.srvFin = true
				c.finData = seg.payload > 0
			}
			if !fromSrv && !c.cliFin {
				c.cliFin = true
				c.cliFirst = !c.srvFin
			}
		}
	}
	for _, c := range conns {
		st.add(c)
	}
	return st, nil
}

const (
	flagFIN = 0x01
	flagSYN = 0x02
	flagRST = 0x04
	flagACK = 0x10
)

// capSeg is what closeStats reads of a captured TCP segment.
type capSeg struct {
	sport, dport uint16
	seq          uint32
	flags        uint8
	payload      int // octets of data, from the IP total length (the capture may be cut short)
}

// parseTCP4 reads an Ethernet frame holding IPv4 and a TCP header.
func parseTCP4(b []byte) (capSeg, bool) {
	if len(b) < 14+20 || binary.BigEndian.Uint16(b[12:]) != 0x0800 {
		return capSeg{}, false
	}
	ip := b[14:]
	ihl := int(ip[0]&0xf) * 4
	if ip[0]>>4 != 4 || ihl < 20 || ip[9] != 6 || len(ip) < ihl+20 {
		return capSeg{}, false
	}
	tot := int(binary.BigEndian.Uint16(ip[2:]))
	t := ip[ihl:]
	off := int(t[12]>>4) * 4
	return capSeg{
		sport:   binary.BigEndian.Uint16(t[0:]),
		dport:   binary.BigEndian.Uint16(t[2:]),
		seq:     binary.BigEndian.Uint32(t[4:]),
		flags:   t[13],
		payload: max(tot-ihl-off, 0),
	}, true
}

package main

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// capFile builds a classic pcap file of the frames.
type capFile struct{ bytes.Buffer }

func newCapFile() *capFile {
	f := &capFile{}
	var h [24]byte
	binary.LittleEndian.PutUint32(h[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], 96)
	binary.LittleEndian.PutUint32(h[20:], 1)
	f.Write(h[:])
	return f
}

// seg appends a frame of a TCP segment between client port cport and the
// server's port 80, captured cut to 96 octets as tcpdump -s 96 would.
func (f *capFile) seg(fromSrv bool, cport uint16, seq uint32, flags uint8, payload int) {
	fr := make([]byte, 14+20+20+payload)
	binary.BigEndian.PutUint16(fr[12:], 0x0800)
	ip := fr[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+20+payload))
	ip[9] = 6
	t := ip[20:]
	sp, dp := cport, uint16(80)
	if fromSrv {
		sp, dp = dp, sp
	}
	binary.BigEndian.PutUint16(t[0:], sp)
	binary.BigEndian.PutUint16(t[2:], dp)
	binary.BigEndian.PutUint32(t[4:], seq)
	t[12] = 5 << 4
	t[13] = flags
	incl := min(len(fr), 96)
	var rec [16]byte
	binary.LittleEndian.PutUint32(rec[8:], uint32(incl))
	binary.LittleEndian.PutUint32(rec[12:], uint32(len(fr)))
	f.Write(rec[:])
	f.Write(fr[:incl])
}

func TestCloseStats(t *testing.T) {
	f := newCapFile()
	const cli, srv = false, true
	// Begun before the capture: not counted.
	f.seg(srv, 40000, 1, flagFIN|flagACK, 0)
	f.seg(cli, 40000, 1, flagFIN|flagACK, 0)
	// The server's FIN on its response, the client's after: 6 segments.
	f.seg(cli, 40000, 100, flagSYN, 0)
	f.seg(srv, 40000, 500, flagSYN|flagACK, 0)
	f.seg(cli, 40000, 101, flagACK, 0)
	f.seg(cli, 40000, 101, flagACK, 80)
	f.seg(srv, 40000, 501, flagFIN|flagACK, 150)
	f.seg(cli, 40000, 181, flagFIN|flagACK, 0)
	// The same port again, a new SYN: the client's FIN first, the server's
	// alone after its data; a SYN retransmitted is the same connection.
	f.seg(cli, 40000, 900, flagSYN, 0)
	f.seg(cli, 40000, 900, flagSYN, 0)
	f.seg(srv, 40000, 700, flagSYN|flagACK, 0)
	f.seg(cli, 40000, 901, flagACK, 0)
	f.seg(srv, 40000, 701, flagACK, 150)
	f.seg(cli, 40000, 901, flagFIN|flagACK, 0)
	f.seg(srv, 40000, 851, flagFIN|flagACK, 0)
	f.seg(cli, 40000, 902, flagACK, 0)
	// Reset.
	f.seg(cli, 40001, 5, flagSYN, 0)
	f.seg(srv, 40001, 9, flagRST|flagACK, 0)
	// Not ended within the capture: not counted.
	f.seg(cli, 40002, 5, flagSYN, 0)
	f.seg(srv, 40002, 9, flagSYN|flagACK, 0)

	st, err := closeStats(&f.Buffer, 80)
	if err != nil {
		t.Fatal(err)
	}
	want := connStats{conns: 3, segs: 6 + 8 + 2, srvSegs: 2 + 3 + 1, cliFinFirst: 1, finOnData: 1, reset: 1}
	if st != want {
		t.Errorf("got %+v, want %+v", st, want)
	}
}

func TestCloseStatsNotPcap(t *testing.T) {
	if _, err := closeStats(bytes.NewReader(make([]byte, 24)), 80); err == nil {
		t.Error("a file of zeros was read as a capture")
	}
}

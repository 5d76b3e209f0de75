package stackfuzz

import (
	"fmt"
	"testing"

	"github.com/netspec/netspec/fsm/seqnum"
	"github.com/netspec/netspec/fsm/sock"
	"github.com/netspec/netspec/fsm/stack"
	"github.com/netspec/netspec/fsm/tcp"
	"github.com/netspec/netspec/fsm/wire"
)

// maxBatchFrames is the most frames one frBatch delivers (n%8+2).
const maxBatchFrames = 9

// batchState is the frame program's batch (frBatch) and what frData sent:
// within a batch every frame has its own buffer, as the driver's frames of
// one read stay valid until EndBatch, and frData continues the sequence
// space where the last segment of the same connection in the batch ended
// (the TCB does not move while TCP holds a run to coalesce).
type batchState struct {
	open    bool
	left    int                        // frames still to come in the batch
	bufs    [maxBatchFrames + 1][]byte // the batch's frame buffers
	n       int                        // buffers handed out in the batch
	last    connKey                    // the connection frData last sent to in the batch
	next    seqnum.Value               // where that segment ended
	hasLast bool                       // last and next are set
	corrupt uint64                     // frData segments with a bad checksum since the last check
	drops   uint64                     // DropChecksum at the last check
}

// connKey names a connection by its endpoints.
type connKey struct {
	local, remote wire.Addr
	lport, rport  uint16
}

// isFrame reports whether op only delivers a frame (may be in a batch).
func isFrame(op int) bool {
	return op == frRaw || op == frIP || op == frARP || op == frSyn || op == frData
}

// frameBuf returns a buffer for the next frame: the harness's one outside
// a batch, else one of the batch's own.
func (h *stackHarness) frameBuf() []byte {
	b := &h.batch
	if !b.open {
		return h.buf
	}
	i := min(b.n, maxBatchFrames)
	b.n++
	if b.bufs[i] == nil {
		b.bufs[i] = make([]byte, 2048)
	}
	return b.bufs[i]
}

func (h *stackHarness) beginBatch(n byte) {
	h.batch.open, h.batch.left, h.batch.n, h.batch.hasLast = true, int(n%8)+2, 0, false
	h.s.BeginBatch()
}

// batchBefore ends the open batch (and checks) before an operation that is
// not a frame.
func (h *stackHarness) batchBefore(op int) error {
	if !h.batch.open || isFrame(op) {
		return nil
	}
	return h.batchEnd()
}

// batchAfter counts a frame delivered in the open batch, ends the batch
// after its last frame, and reports whether the batch is still open.
func (h *stackHarness) batchAfter(op int) bool {
	b := &h.batch
	if !b.open {
		return false
	}
	if isFrame(op) {
		if b.left--; b.left == 0 {
			b.open = false
			h.s.EndBatch(h.now)
			return false
		}
	}
	return true
}

// batchEnd ends the open batch, if any, and checks the stack.
func (h *stackHarness) batchEnd() error {
	if !h.batch.open {
		return nil
	}
	h.batch.open = false
	h.s.EndBatch(h.now)
	return h.check()
}

// input delivers one frame built by the harness.
func (h *stackHarness) input(b []byte, csumValid bool) {
	h.s.Input(h.now, b, stack.RxMeta{Time: h.now, CsumValid: csumValid})
}

// data sends a segment from the peer of a live connection (conn picks it
// among the layer's connections, if any): SEQ is RCV.NXT, or where the
// last frData segment to it in the batch ended; sel bits 0-1 choose the
// flags (ACK, ACK|PSH, ACK|FIN, SYN|ACK with MSS), bit 2 leaves a one-octet
// hole before SEQ, bit 3 corrupts the checksum, bit 4 has the offload
// metadata say the checksum is valid, bit 5 halves the window, bit 6
// acknowledges SND.UNA instead of SND.NXT. The text is 4*len octets.
func (h *stackHarness) data(conn, sel, n byte) {
	var cs []*tcp.Conn
	h.s.TCP().EachConn(func(c *tcp.Conn) { cs = append(cs, c) })
	if len(cs) == 0 {
		return
	}
	c := cs[int(conn)%len(cs)]
	local, lport, remote, rport := c.Endpoints()
	t := c.TCB()
	key := connKey{local, remote, lport, rport}
	seq := t.RcvNxt
	if h.batch.open && h.batch.hasLast && h.batch.last == key {
		seq = h.batch.next
	}
	if sel&4 != 0 {
		seq = seq.Add(1)
	}
	flags := [4]wire.TCPFlags{wire.FlagACK, wire.FlagACK | wire.FlagPSH, wire.FlagACK | wire.FlagFIN, wire.FlagSYN | wire.FlagACK}[sel&3]
	ack := t.SndNxt
	if sel&64 != 0 {
		ack = t.SndUna
	}
	hdr := wire.TCPHeader{SrcPort: rport, DstPort: lport, Seq: uint32(seq), Ack: uint32(ack), Flags: flags, Window: 8192 >> (sel >> 5 & 1)}
	hdr.Opts.MSS, hdr.Opts.HasMSS = 1000, flags&wire.FlagSYN != 0
	hl, text := hdr.Len(), int(n)*4
	b := h.eth(macUs, wire.EtherTypeIPv4, wire.IPv4MinHeaderLen+hl+text)
	ip := b[wire.EthernetHeaderLen:]
	iph := wire.IPv4Header{TotalLen: len(ip), ID: 1, TTL: 64, Protocol: wire.ProtoTCP, Src: remote, Dst: local}
	iph.Put(ip)
	p := ip[wire.IPv4MinHeaderLen:]
	hdr.Put(p)
	first := seq // the sequence number of the first octet of text
	if flags&wire.FlagSYN != 0 {
		first = first.Add(1)
	}
	for i := range text {
		p[hl+i] = byte(uint32(first) + uint32(i))
	}
	wire.SetTCPChecksum(p, remote, local)
	if sel&8 != 0 {
		p[16] ^= 0xff // the checksum field: the text keeps its pattern
		if sel&16 == 0 {
			h.batch.corrupt++
		}
	}
	end := seq.Add(seqnum.Size(text))
	if flags&(wire.FlagSYN|wire.FlagFIN) != 0 {
		end = end.Add(1)
	}
	h.batch.last, h.batch.next, h.batch.hasLast = key, end, true
	if _, ok := h.fins[key]; !ok && flags&wire.FlagFIN != 0 && sel&(4|8) == 0 && c.State() == tcp.StateEstablished &&
		!t.RcvNxt.Add(seqnum.Size(t.RcvWnd)).LessThan(end) {
		// A FIN in order and in the window: once the octets before it are
		// read, Recv must report the end of the stream, not "wait".
		h.fins[key] = end - 1
	}
	h.input(b, sel&16 != 0)
}

// recvTrack follows what a descriptor received: frData's text octet at
// sequence number s is byte(s), so the stream from IRS+1 on is known.
type recvTrack struct {
	started, lost bool
	next          seqnum.Value // sequence number of the next octet to read
	key           connKey      // the connection
}

// checkRecv checks the octets b that Recv returned on descriptor slot i:
// they must be the connection's stream in order (what frData sent, at its
// sequence numbers), unless a frame of another kind may have added text.
// Coalescing that merged segments that do not abut, dropped or repeated a
// piece, or took a bad checksum's text fails it; so does a FIN, sent in
// order and in the window, that Recv does not report once the octets
// before it are read (a run that swallowed it).
func (h *stackHarness) checkRecv(i int, fd stack.FD, b []byte, err error) {
	tr := &h.rcv[i]
	if !tr.started && len(b) > 0 {
		// The first octets read are the stream's first: IRS+1 on.
		tr.started = true
		st, serr := h.s.Status(fd)
		tr.lost = true
		h.s.TCP().EachConn(func(c *tcp.Conn) {
			la, lp, ra, rp := c.Endpoints()
			if serr == nil && la == st.Local && lp == st.LocalPort && ra == st.Remote && rp == st.RemotePort {
				tr.next, tr.lost, tr.key = c.TCB().Irs.Add(1), false, connKey{la, ra, lp, rp}
			}
		})
	}
	if tr.lost || h.foreign || h.err != nil {
		return
	}
	if fin, ok := h.fins[tr.key]; ok && tr.started && len(b) == 0 && tr.next == fin && err == sock.ErrWouldBlock {
		h.err = fmt.Errorf("descriptor %d: every octet before the peer's FIN read, Recv says %v", i, err)
		return
	}
	for k, o := range b {
		if want := byte(uint32(tr.next)); o != want {
			h.err = fmt.Errorf("descriptor %d: octet %d of %d received is %#x, the stream's is %#x", i, k, len(b), o, want)
			return
		}
		tr.next = tr.next.Add(1)
	}
}

// checkChecksumDrops requires every frData segment sent with a bad
// checksum (and no offload claim) since the last check to have been
// dropped and counted as such (RFC 9293 MUST-3), coalesced or not.
func (h *stackHarness) checkChecksumDrops() error {
	d := h.s.TCP().Counters().Drops[tcp.DropChecksum]
	got, want := d-h.batch.drops, h.batch.corrupt
	h.batch.drops, h.batch.corrupt = d, 0
	if got < want {
		return fmt.Errorf("%d segments with a bad checksum, %d counted as DropChecksum", want, got)
	}
	return nil
}

// TestBatchSeedsCoalesce runs the batch seeds and requires TCP to have
// coalesced segments in them, and the octets received to have been checked:
// otherwise FuzzStackFrames would not reach the receive coalescing path it
// batches frames for.
func TestBatchSeedsCoalesce(t *testing.T) {
	out := map[string][]byte{}
	batchSeeds(out)
	for name, p := range out {
		h := newStackHarness(p[0])
		if err := h.run(p[1:]); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if c := h.s.TCP().Counters(); c.SegsCoalesced == 0 {
			t.Errorf("%s: no segment coalesced (%d in)", name, c.SegsIn)
		}
		if tr := h.rcv[0]; !tr.started || tr.lost || h.foreign {
			t.Errorf("%s: the received octets were not checked: %+v, foreign %v", name, tr, h.foreign)
		}
	}
}

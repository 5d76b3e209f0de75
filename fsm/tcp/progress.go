package tcp

import "github.com/netspec/netspec/fsm/seqnum"

// CheckProgress reports a connection that can no longer make progress on
// its own: it has data (or a FIN) waiting to be sent and nothing that will
// send it. After every input and user call, in a state that sends, either
// octets are in flight under the retransmission timer, or the unsent data is
// waiting behind a closed or small window (or Nagle) under the persist
// timer (RFC 9293 §3.8.6.1, MUST-36; §3.8.6.2.1 override timeout); with no
// timer armed nothing would ever send it (no ACK is due to arrive). It
// changes nothing; nil means progress is assured.
func (c *Conn) CheckProgress() error {
	if !sendsData(c.state) {
		return nil
	}
	t := &c.tcb
	dataEnd := c.snd.bufSeq.Add(seqnum.Size(c.snd.buf.n))
	unsent := t.SndNxt.LessThan(dataEnd) || (c.snd.finQueued && !c.snd.finSent)
	if !unsent || !c.snd.rtxAt.IsZero() {
		return nil
	}
	if t.SndUna != t.SndNxt {
		return c.violation("%d octets in flight, %d unsent and no retransmission timer", uint32(t.SndNxt-t.SndUna), uint32(dataEnd-t.SndNxt))
	}
	return c.violation("%d octets unsent (SND.WND %d, cwnd %d) and neither a persist nor a retransmission timer", uint32(dataEnd-t.SndNxt), t.SndWnd, c.snd.cc.cwnd)
}

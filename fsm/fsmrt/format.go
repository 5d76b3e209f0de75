package fsmrt

import "strings"

// String formats r for traces, one line:
//
//	spec/tcp.fsm:41 State/Event [Cond,!Cond] -> Next do A,B outcome [Reason] @ anchor REQ...
//
// It allocates and is meant for traces and failure messages, not the input path.
func (r *Rule[S, E, G, A, R, P]) String() string {
	var b strings.Builder
	b.WriteString(r.Src)
	b.WriteByte(' ')
	b.WriteString(r.State.String())
	b.WriteByte('/')
	b.WriteString(r.Event.String())
	if len(r.Conds) > 0 {
		b.WriteString(" [")
		for i, c := range r.Conds {
			if i > 0 {
				b.WriteByte(',')
			}
			if c.Negate {
				b.WriteByte('!')
			}
			b.WriteString(c.Guard.String())
		}
		b.WriteByte(']')
	}
	b.WriteString(" -> ")
	b.WriteString(r.Next.String())
	if len(r.Actions) > 0 {
		b.WriteString(" do ")
		for i, a := range r.Actions {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(a.String())
		}
	}
	b.WriteByte(' ')
	b.WriteString(r.Outcome.String())
	if r.Outcome == OutDrop {
		b.WriteByte(' ')
		b.WriteString(r.Reason.String())
	}
	b.WriteString(" @ ")
	b.WriteString(r.Anchor)
	for _, q := range r.Reqs {
		b.WriteByte(' ')
		b.WriteString(q)
	}
	return b.String()
}

package fsmrt

import "strings"

// String returns c as the spec writes it: "Guard", or "!Guard" when negated.
func (c Cond[G]) String() string {
	if c.Negate {
		return "!" + c.Guard.String()
	}
	return c.Guard.String()
}

// CondString returns r's conditions as the spec writes them, comma-separated
// without spaces or brackets ("SeqAcceptable,!HasRST"); "" for a row
// without conditions.
func (r *Rule[S, E, G, A, R, P]) CondString() string {
	var b strings.Builder
	join(&b, r.Conds)
	return b.String()
}

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
		join(&b, r.Conds)
		b.WriteByte(']')
	}
	b.WriteString(" -> ")
	b.WriteString(r.Next.String())
	if len(r.Actions) > 0 {
		b.WriteString(" do ")
		join(&b, r.Actions)
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

// join writes the names of xs to b, separated by commas.
func join[T interface{ String() string }](b *strings.Builder, xs []T) {
	for i, x := range xs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(x.String())
	}
}

// Package ip is the IPv4 layer of netspec. The receive side (Receiver) runs
// the receive pipeline (generated from spec/ipv4.fsm into zipv4_gen.go) and
// fragment reassembly (generated from spec/frag.fsm into zfrag_gen.go),
// driven by the hand-written guards and actions in this package. The send
// side (Sender) routes each datagram to its next hop, chooses its
// Identification and fragments it to the MTU, building it in a frame buffer
// the link below lends (Link). It is pure: time is a parameter and no I/O
// happens here.
package ip

//go:generate go run ../../cmd/fsmgen -in ../../spec/ipv4.fsm -out zipv4_gen.go -dot ../../docs/diagrams/ipv4.dot
//go:generate go run ../../cmd/fsmgen -in ../../spec/frag.fsm -out zfrag_gen.go -dot ../../docs/diagrams/frag.dot

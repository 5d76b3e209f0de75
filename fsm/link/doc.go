// Package link is the Ethernet II layer. Its Port is our interface: it
// decides which received frames are ours and who gets them (ARP here, IPv4
// to the caller), answers ARP for our address, keeps the ARP neighbour
// cache that resolves next hops before frames leave, and holds outgoing
// frames in a bounded queue of recycled buffers until the driver drains
// them. Each cache entry runs the neighbour machine generated from
// spec/arp.fsm into zarp_gen.go, driven by the hand-written guards and
// actions in arp.go. It is pure: time is a parameter and no I/O happens
// here.
package link

//go:generate go run ../../cmd/fsmgen -in ../../spec/arp.fsm -out zarp_gen.go -dot ../../docs/diagrams/arp.dot

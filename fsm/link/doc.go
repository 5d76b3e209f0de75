// Package link is the Ethernet II layer: it decides which received frames are
// ours and who gets them (ARP or IPv4), and keeps the ARP neighbour cache that
// resolves next hops before frames leave. Each cache entry runs the neighbour
// machine generated from spec/arp.fsm into zarp_gen.go, driven by the
// hand-written guards and actions in arp.go. It is pure: time is a parameter
// and no I/O happens here.
package link

//go:generate go run ../../cmd/fsmgen -in ../../spec/arp.fsm -out zarp_gen.go -dot ../../docs/diagrams/arp.dot

// Package e2e holds the end-to-end tests: the netspec binary serves inside a
// lab's server namespace, and real Linux clients (curl, ping, the kernel's TCP
// and UDP through bash) talk to it from the client namespace. Every test runs
// once per link driver (subtests afpacket and tap): on an AF_PACKET socket on
// the server's veth end, and on a TAP device bridged to it. Each subtest builds
// its own uniquely named lab and removes it on exit; without root the tests
// skip with a message.
package e2e

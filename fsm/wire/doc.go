// Package wire holds zero-copy views over, and builders of, the frames netspec
// speaks: Ethernet II, ARP, IPv4, ICMP, UDP and TCP (with options), and the
// Internet checksum. Parsing never allocates; a view's accessors cannot panic once
// its Parse function has accepted the bytes.
package wire

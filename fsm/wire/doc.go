// Package wire holds zero-copy views over, and builders of, the frames netspec
// speaks: Ethernet II, ARP, IPv4, ICMP, UDP and TCP (with options), and the
// Internet checksum. Parsing never allocates; a view's accessors cannot panic once
// its Parse function has accepted the bytes.
//
// # Shape
//
// Each format has three parts, smoltcp style:
//
//   - a view type over bytes (Ethernet, ARP, IPv4, ICMP, UDP, TCP) with a
//     ParseX function that does the one length check making every accessor
//     safe; field offsets are named constants at the top of each file;
//   - semantic checks kept apart from parsing: the IPv4 receive pipeline reads
//     Version, IHL, TotalLen and HeaderChecksumValid itself (or calls
//     IPv4.Validate), TCP.Validate rejects impossible flag combinations, and
//     ParseTCPOptions applies RFC 9293 MUST-4..MUST-7;
//   - a builder that writes into a caller-owned buffer (PutEthernet, PutARP,
//     IPv4Header.Put, PutICMPHeader, PutUDPHeader, TCPHeader.Put) and checksum
//     fill helpers (SetICMPChecksum, SetUDPChecksum, SetTCPChecksum).
//
// Views whose length fields may lie (IPv4 IHL and total length, UDP length)
// clamp Options and Payload to the buffer instead of trusting the field.
//
// # Errors
//
// Parse and Validate return errors wrapping the sentinels in errors.go
// (ErrTruncated, ErrBadHeaderLen, ErrBadOption, ...). The wrapped values are
// built once at package init, so rejecting hostile input allocates nothing.
//
// # Checksums
//
// Sum is the unfolded RFC 1071 partial sum (8 bytes per add), Fold folds it,
// Checksum complements it, and PseudoHeaderSum starts a TCP or UDP sum. FCS
// and CheckFCS handle the Ethernet CRC-32 for links that deliver it.
package wire

package wire

// UpdateChecksum returns the Internet checksum csum of a message after one
// of its 16-bit words changed from old to new, without summing the message
// again (RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m')). A checksum computed by
// Checksum and updated this way equals the checksum of the changed message
// computed from scratch.
func UpdateChecksum(csum, old, new uint16) uint16 {
	s := uint32(^csum) + uint32(^old) + uint32(new)
	return ^Fold(s)
}

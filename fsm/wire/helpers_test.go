package wire

import "encoding/hex"

// h decodes a hex string, panicking on malformed test input.
func h(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

module github.com/netspec/netspec

go 1.26.0

require (
	github.com/anishathalye/porcupine v1.3.1
	github.com/google/gopacket v1.1.19
	github.com/leanovate/gopter v0.2.11
	golang.org/x/sys v0.50.0
)

// Package history is the format of a linearizability history of TCP
// connections (issue 3, item 5), without the checker: netspec's socket layer
// (driver/netconn) and kernel-side test clients write it, fuzz/linz checks
// it with porcupine. Keeping the format here means a program that embeds
// netspec and records histories does not link the checker.
//
// A history is a file of JSON lines, one per completed socket call
// (Record): which connection and which end of it, the operation (dial,
// accept, write, read, closewrite, close, abort), its argument or result
// bytes, the class of its error (Classify), and when it was called and
// returned (Stamp). Both ends of a connection may be recorded
// (netconn.History on the netspec side, WrapConn/Dial on the kernel side)
// into one file or into several that are merged.
package history

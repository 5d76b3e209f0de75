// Package linz records and checks linearizability histories of TCP
// connections with porcupine (issue 3, item 5).
//
// A history is a file of JSON lines, one per completed socket call
// (Record): which connection and which end of it, the operation (dial,
// accept, write, read, closewrite, close, abort), its argument or result
// bytes, the class of its error, and when it was called and returned. Both
// ends of a connection may be recorded (netconn.History on the netspec side,
// WrapConn/Dial on the kernel side) into one file or into several that are
// merged.
//
// The model (Model) is the sequential specification the history must be
// consistent with: a byte stream in each direction with half-close and reset,
// the connection lifecycle, and the accept queue (an accept returns only a
// dialled connection, once). Histories are partitioned per connection, so
// checking is linear in the number of connections; Check reports each
// partition's verdict and the smallest failing one. A check that runs out of
// time is Unknown, never Ok.
package linz

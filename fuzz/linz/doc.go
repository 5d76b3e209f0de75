// Package linz checks linearizability histories of TCP connections with
// porcupine (issue 3, item 5). The history format, its writer and the
// recorders live in driver/history; this package reads such files' records
// and checks them.
//
// The model (Model) is the sequential specification the history must be
// consistent with: a byte stream in each direction with half-close and reset,
// the connection lifecycle, and the accept queue (an accept returns only a
// dialled connection, once). Histories are partitioned per connection, so
// checking is linear in the number of connections; Check reports each
// partition's verdict and the smallest failing one. A check that runs out of
// time is Unknown, never Ok.
package linz

// Package model is netspec's explicit-state model checker for the generated
// TCP table (fsm/tcp.Rules, RFC 9293 §3.10).
//
// It explores, breadth first, every interleaving of two endpoints A and B
// that run the table, joined by a bounded channel in each direction that may
// lose, duplicate and reorder segments. The endpoints are an abstract
// projection of fsm/tcp.Conn: the state, the sequence variables as small
// integers (each incarnation's ISS is a multiple of 16, one unit of data is
// one octet), the flags the guards read (FIN sent/received/held, passive open,
// user closed) and which timers run. The endpoints run the generated table
// through fsmrt, the interpreter fsm/tcp runs it through (tcp.Machine,
// Machine.Step): the table's rows, in the table's order and profile, decide
// every transition, so a change to spec/tcp.fsm is checked without touching
// this package. Only the guards and actions are the model's own: abstract
// methods of absRun (abstract.go), which implements tcp.Impl, so a guard or
// action added to the spec without an abstract model does not compile.
//
// With Bounds.Inject the environment may also inject segments a conforming
// peer never sends (inject.go), so that the rows for challenge ACKs, PAWS,
// URG and stale ACKs fire. The visited set keeps 64-bit fingerprints of the
// packed states (hash compaction; Config.Exact keeps them in full), and the
// graph keeps, per state, its parent, the step from it, a few property bits
// and its distinct successors (pack.go, explore.go).
//
// The properties (see docs/verification.md) are checked on the reachable
// graph: safety invariants on every state as it is found (so the first
// violation has a shortest trace), then deadlock, livelock (any cycle is a
// non-progress cycle: every counter in the state is monotone within a run),
// SYN-RECEIVED always resolves, graceful termination; rule coverage
// (every row fires in some run of a suite, QuickRuns or DeepRuns, or is
// allow-listed with its reason) is judged over a suite (RunSuite).
// A violation comes with a replayable trace in a small text format
// (WriteTrace, ParseTrace, Replay).
package model

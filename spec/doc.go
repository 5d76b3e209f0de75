// Package spec loads and validates the declarative state machines in
// spec/*.fsm (the DSL is described in docs/architecture.md). A Machine is the
// parsed form; Check reports every violation of the rules that make a table
// total, deterministic and free of trap states. cmd/fsmgen turns a checked
// Machine into Go tables and a Graphviz diagram.
package spec

// Package docs is the project's documentation. As Go it only embeds the
// state diagrams that go generate draws from the spec (diagrams/*.svg), so
// that the netspec binary can show them: the live status page of
// `netspec serve` (/netspec/) annotates the TCP machine's with the number of
// connections in each state.
package docs

import _ "embed"

// TCPDiagram is docs/diagrams/tcp.svg: the TCP machine of spec/tcp.fsm as
// Graphviz drew it, one <g class="node"> per state, titled with its name
// (tcp.State's, "Established").
//
//go:embed diagrams/tcp.svg
var TCPDiagram []byte

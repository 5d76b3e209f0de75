package spec

import (
	"bytes"
	"embed"
	"fmt"
)

// files are the machines of this directory, built into every program that
// links the package (netspec diagram draws them without the source tree).
//
//go:embed *.fsm
var files embed.FS

// Builtins are the names of the built-in machines, as `netspec diagram`
// takes them.
var Builtins = []string{"tcp", "ipv4", "frag", "arp"}

// Builtin parses the built-in machine name (one of Builtins), as compiled
// into the program; its File is "spec/NAME.fsm".
func Builtin(name string) (*Machine, error) {
	b, err := files.ReadFile(name + ".fsm")
	if err != nil {
		return nil, fmt.Errorf("spec: no built-in machine %q (want tcp, ipv4, frag or arp)", name)
	}
	return Parse("spec/"+name+".fsm", bytes.NewReader(b))
}

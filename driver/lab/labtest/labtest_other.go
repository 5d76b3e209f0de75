//go:build !linux

package labtest

// removeDeadTestLabs has nothing to remove: there are no labs here.
func removeDeadTestLabs() {}

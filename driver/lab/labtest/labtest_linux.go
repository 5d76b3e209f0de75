//go:build linux

package labtest

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"github.com/netspec/netspec/driver/lab"
)

// removeDeadTestLabs deletes namespaces named nst<pid>-... whose process is
// gone (a test binary killed before its cleanups ran).
func removeDeadTestLabs() {
	entries, err := os.ReadDir(lab.NetnsDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name, ok := strings.CutPrefix(e.Name(), testPrefix)
		if !ok {
			continue
		}
		pidStr, _, ok := strings.Cut(name, "-")
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
			_ = exec.Command("ip", "netns", "del", e.Name()).Run()
		}
	}
}

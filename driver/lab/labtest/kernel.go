package labtest

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
)

// KernelTCPStats reads the Linux kernel's TCP counters (the "Tcp:" lines of
// /proc/net/snmp: InSegs, RetransSegs, InCsumErrors...) of the network
// namespace of the calling thread, so a test that runs it on a thread
// locked inside a lab namespace reads that namespace's peer.
func KernelTCPStats() (map[string]uint64, error) {
	data, err := os.ReadFile("/proc/thread-self/net/snmp")
	if err != nil {
		return nil, fmt.Errorf("snmp: %w", err)
	}
	var names []string
	for line := range strings.SplitSeq(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Tcp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		stats := make(map[string]uint64, len(f))
		for i := 1; i < len(f) && i < len(names); i++ {
			v, err := strconv.ParseUint(f[i], 10, 64)
			if err != nil { // MaxConn is -1: a signed column
				continue
			}
			stats[names[i]] = v
		}
		return stats, nil
	}
	return nil, fmt.Errorf("snmp: no Tcp counters")
}

// SyncBuffer is a bytes.Buffer that a logger or a child process and the test
// can share: every call holds its lock.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

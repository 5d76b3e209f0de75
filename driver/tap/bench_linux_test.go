//go:build linux

package tap

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkEchoBatch measures one batch of 64 ICMP echo requests written to
// the kernel side of the TAP device (WriteBatch, one writev each) and the
// ReadBatch calls (readv until EAGAIN) that collect the kernel's 64 replies.
// It reports frames/s (requests and replies); a reply that does not arrive
// within a second fails the run rather than skewing it.
func BenchmarkEchoBatch(b *testing.B) {
	_, l := peered(b, Options{})
	for _, size := range []int{60, 1514} {
		b.Run(fmt.Sprintf("frame=%d", size), func(b *testing.B) {
			const batch = 64
			reqs := make([][]byte, batch)
			for i := range reqs {
				reqs[i] = echo(l.KernelMAC(), l.MAC(), linkAddr, kernelAddr, 8, 7, uint16(i), make([]byte, size-l4Off-8))
			}
			frames, n, meta := bufs(batch, l.MaxFrame())
			b.SetBytes(2 * batch * int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if err := l.WriteBatch(reqs, nil); err != nil {
					b.Fatal(err)
				}
				for got := 0; got < batch; {
					k, err := l.ReadBatch(frames, n, meta, time.Now().Add(time.Second))
					if err != nil {
						b.Fatal(err)
					}
					if k == 0 {
						b.Fatalf("%d of %d echo replies lost; stats %+v", batch-got, batch, l.Stats())
					}
					for i := range k {
						if isIPv4(frames[i][:n[i]], kernelAddr, linkAddr, 1) {
							got++
						}
					}
				}
			}
			b.ReportMetric(float64(2*b.N*batch)/b.Elapsed().Seconds(), "frames/s")
		})
	}
}

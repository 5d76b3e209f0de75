//go:build linux

package afpacket

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkVethBatch measures one batch of 64 frames across the lab's veth
// pair: the client link's WriteBatch (sendmmsg) and the server link's
// ReadBatch calls (recvmmsg) that collect all 64. It reports frames/s; a
// frame that does not arrive within a second fails the run rather than
// skewing it.
func BenchmarkVethBatch(b *testing.B) {
	_, srv, cli := labLinks(b, Options{}, Options{})
	for _, size := range []int{60, 1514} {
		b.Run(fmt.Sprintf("frame=%d", size), func(b *testing.B) {
			const batch = 64
			frames := make([][]byte, batch)
			for i := range frames {
				frames[i] = ethFrame(srv.MAC(), cli.MAC(), etherTypeTest, make([]byte, size-14))
			}
			r := newRx(batch, srv.MaxFrame())
			b.SetBytes(batch * int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if err := cli.WriteBatch(frames, nil); err != nil {
					b.Fatal(err)
				}
				for got := 0; got < batch; {
					k, err := srv.ReadBatch(r.frames, r.n, r.meta, time.Now().Add(time.Second))
					if err != nil {
						b.Fatal(err)
					}
					if k == 0 {
						b.Fatalf("%d of %d frames lost; stats %+v", batch-got, batch, srv.Stats())
					}
					for i := range k {
						if etherType(r.frames[i][:r.n[i]]) == etherTypeTest {
							got++
						}
					}
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "frames/s")
		})
	}
}

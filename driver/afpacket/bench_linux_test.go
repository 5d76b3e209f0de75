//go:build linux

package afpacket

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// threadCPU returns the calling thread's CPU time (user and system).
func threadCPU() time.Duration {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return time.Duration(ts.Nano())
}

// processCPU returns the process's CPU time (user and system, every thread;
// with veth this includes the kernel's receive work, run in the sender's
// system call).
func processCPU() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkVethBatch measures one batch of 64 frames across the lab's veth
// pair, over each receive path of the server link: the client link's
// WriteBatch (sendmmsg) and the server link's ReadBatch calls that collect
// all 64. It reports frames/s, the CPU the reading thread spent per frame
// (rx-cpu-ns/frame: recvmmsg's copies, or reading the ring into the
// caller's buffers and clearing the blocks) and the process's CPU per frame
// (cpu-ns/frame, sender and kernel receive work included). A frame that
// does not arrive within a second fails the run rather than skewing it.
// rx=ring-lent reads the ring with ReadLent: no copy into the caller's
// buffers.
func BenchmarkVethBatch(b *testing.B) {
	for _, p := range append(receivePaths, struct {
		name string
		rx   Receive
	}{"ring-lent", ReceiveRing}) {
		b.Run("rx="+p.name, func(b *testing.B) {
			_, srv, cli := labLinks(b, Options{Receive: p.rx}, Options{})
			for _, size := range []int{60, 1514} {
				b.Run(fmt.Sprintf("frame=%d", size), func(b *testing.B) { benchBatch(b, srv, cli, size, p.name == "ring-lent") })
			}
		})
	}
}

func benchBatch(b *testing.B, srv, cli *Link, size int, lend bool) {
	const batch = 64
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	frames := make([][]byte, batch)
	for i := range frames {
		frames[i] = ethFrame(srv.MAC(), cli.MAC(), etherTypeTest, make([]byte, size-14))
	}
	r := newRx(batch, srv.MaxFrame())
	r.lend = lend
	b.SetBytes(batch * int64(size))
	b.ReportAllocs()
	var rxCPU time.Duration
	cpu0 := processCPU()
	for b.Loop() {
		if err := cli.WriteBatch(frames, nil); err != nil {
			b.Fatal(err)
		}
		t0 := threadCPU()
		for got := 0; got < batch; {
			k, err := r.read(srv, time.Now().Add(time.Second))
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
		rxCPU += threadCPU() - t0
	}
	n := float64(b.N * batch)
	b.ReportMetric(n/b.Elapsed().Seconds(), "frames/s")
	b.ReportMetric(float64(rxCPU.Nanoseconds())/n, "rx-cpu-ns/frame")
	b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/n, "cpu-ns/frame")
}

// BenchmarkVethOneFrame is light load: one frame at a time to a reader
// that is asleep in ReadBatch when it arrives. ns/op is the latency of one
// frame from the client's WriteBatch to the server's reader having it
// (wake-up included); rx-cpu-ns/frame the reading thread's CPU per frame.
func BenchmarkVethOneFrame(b *testing.B) {
	for _, p := range receivePaths {
		b.Run("rx="+p.name, func(b *testing.B) {
			_, srv, cli := labLinks(b, Options{Receive: p.rx}, Options{})
			f := [][]byte{ethFrame(srv.MAC(), cli.MAC(), etherTypeTest, make([]byte, 100))}
			got := make(chan struct{}, 1)
			cpu := make(chan time.Duration, 1)
			go func() {
				runtime.LockOSThread()
				t0 := threadCPU()
				r := newRx(64, srv.MaxFrame())
				for {
					k, err := srv.ReadBatch(r.frames, r.n, r.meta, time.Time{})
					if err != nil {
						cpu <- threadCPU() - t0
						return
					}
					for i := range k {
						if etherType(r.frames[i][:r.n[i]]) == etherTypeTest {
							got <- struct{}{}
						}
					}
				}
			}()
			guard := time.NewTimer(time.Hour)
			b.ReportAllocs()
			for b.Loop() {
				if err := cli.WriteBatch(f, nil); err != nil {
					b.Fatal(err)
				}
				guard.Reset(5 * time.Second)
				select {
				case <-got:
				case <-guard.C:
					b.Fatalf("frame not received within 5 s; stats %+v", srv.Stats())
				}
			}
			b.StopTimer()
			srv.Close()
			b.ReportMetric(float64((<-cpu).Nanoseconds())/float64(b.N), "rx-cpu-ns/frame")
		})
	}
}

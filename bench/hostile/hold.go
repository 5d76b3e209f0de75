//go:build linux

package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// runHold holds connections open for a while: keep-alive ones that send a
// request every 20 s, or slowloris ones that never finish their request.
// It prints "hold: ready ..." once every connection is open (the caller
// measures then), and exits after -duration.
func runHold(args []string) error {
	fs := flag.NewFlagSet("hold", flag.ContinueOnError)
	dst := fs.String("dst", "198.18.0.2", "server address")
	port := fs.Uint("port", 80, "server HTTP port")
	conns := fs.Int("conns", 1000, "connections to hold")
	dur := fs.Duration("duration", 30*time.Second, "hold them this long")
	slow := fs.Bool("slowloris", false, "send a partial request and one header line every 3 s")
	if err := fs.Parse(args); err != nil {
		return err
	}
	addr := net.JoinHostPort(*dst, fmt.Sprint(*port))
	end := time.Now().Add(*dur)
	var opened, failed, lost atomic.Int64
	var ready, done sync.WaitGroup
	work := make(chan struct{}, *conns)
	for range *conns {
		work <- struct{}{}
	}
	close(work)
	start := time.Now()
	for range 64 {
		ready.Go(func() {
			for range work {
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					failed.Add(1)
					continue
				}
				h := &httpConn{c: c, br: bufio.NewReader(c)}
				if *slow {
					_, err = fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\n", *dst)
				} else {
					err = h.get(*dst)
				}
				if err != nil {
					c.Close()
					failed.Add(1)
					continue
				}
				opened.Add(1)
				done.Go(func() {
					defer c.Close()
					for i := 0; time.Now().Before(end); i++ {
						time.Sleep(min(time.Until(end), map[bool]time.Duration{true: 3 * time.Second, false: 20 * time.Second}[*slow]))
						if !time.Now().Before(end) {
							return
						}
						if *slow {
							c.SetWriteDeadline(time.Now().Add(3 * time.Second))
							_, err = fmt.Fprintf(c, "X-Slow-%d: x\r\n", i)
						} else {
							err = h.get(*dst)
						}
						if err != nil {
							lost.Add(1)
							return
						}
					}
				})
			}
		})
	}
	ready.Wait()
	fmt.Printf("hold: ready: %d connections open, %d failed, in %.1f s\n", opened.Load(), failed.Load(), time.Since(start).Seconds())
	done.Wait()
	fmt.Printf("hold: done: %d of %d lost while held\n", lost.Load(), opened.Load())
	return nil
}

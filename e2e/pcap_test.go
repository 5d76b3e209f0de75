package e2e

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netspec/netspec"
	"github.com/netspec/netspec/driver/lab/labtest"
	"github.com/netspec/netspec/driver/pcap"
)

// tshark runs Debian's tshark on a capture and returns its standard output.
func tshark(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, "tshark", args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("tshark %s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// followRaw splits tshark's "-z follow,tcp,raw,N" output into the octets
// the first node sent and those the second sent (its lines are indented).
func followRaw(t *testing.T, out string) (fromFirst, fromSecond []byte) {
	t.Helper()
	body := out[strings.Index(out, "Node 1:"):]
	for _, line := range strings.Split(body, "\n")[1:] {
		if strings.HasPrefix(line, "===") {
			break
		}
		dst := &fromFirst
		if strings.HasPrefix(line, "\t") {
			dst = &fromSecond
		}
		b, err := hex.DecodeString(strings.TrimSpace(line))
		if err != nil {
			t.Fatalf("follow output line %q: %v", line, err)
		}
		*dst = append(*dst, b...)
	}
	return fromFirst, fromSecond
}

// TestPcapngReadByTshark: `--pcap` writes pcapng that Debian's tshark reads:
// the echo exchange's TCP stream reassembles to exactly what was sent each
// way, every checksum verifies, each frame is marked inbound or outbound as
// it went, and a frame's comment reaches tshark's frame.comment.
func TestPcapngReadByTshark(t *testing.T) {
	labtest.NeedTools(t, "tshark")
	file := filepath.Join(t.TempDir(), "echo.pcapng")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	a, b, err := netspec.Pipe(&netspec.PipeConfig{BOptions: &netspec.Options{Pcap: f}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ln, err := b.Listen("tcp", ":7")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		io.Copy(c, c)
		c.(interface{ CloseWrite() error }).CloseWrite()
		c.Close()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := a.Dial(ctx, "tcp", "198.18.0.2:7")
	if err != nil {
		t.Fatal(err)
	}
	msg := bytes.Repeat([]byte("pcapng through tshark "), 2000)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	go func() {
		c.Write(msg)
		c.(interface{ CloseWrite() error }).CloseWrite()
	}()
	back, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(back, msg) {
		t.Fatalf("echo: %d of %d bytes, %v", len(back), len(msg), err)
	}
	c.Close()
	b.Close()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	up, down := followRaw(t, tshark(t, "-r", file, "-q", "-z", "follow,tcp,raw,0"))
	if !bytes.Equal(up, msg) || !bytes.Equal(down, msg) {
		t.Errorf("tshark's TCP stream: %d octets up, %d down; want the %d-octet message both ways", len(up), len(down), len(msg))
	}
	bad := tshark(t, "-r", file, "-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE",
		"-Y", "tcp.checksum.status == 0 || ip.checksum.status == 0 || _ws.malformed", "-T", "fields", "-e", "frame.number")
	if strings.TrimSpace(bad) != "" {
		t.Errorf("frames with a bad checksum or malformed: %q", bad)
	}
	// Direction from B's point of view: its own frames out, A's in.
	dirs := tshark(t, "-r", file, "-Y", "ip", "-T", "fields", "-e", "ip.src", "-e", "frame.packet_flags_direction")
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(dirs), "\n") {
		src, dir, _ := strings.Cut(line, "\t")
		want := map[string]string{"198.18.0.2": "0x00000002", "198.18.0.1": "0x00000001"}[src]
		if dir != want {
			t.Errorf("frame from %s: direction %q, want %q", src, dir, want)
		}
		n++
	}
	if n < 20 {
		t.Errorf("only %d IP frames captured", n)
	}

	// Each received frame carries its journey line, written after the
	// stack processed it: the SYN names the LISTEN row that took it.
	syn := tshark(t, "-r", file, "-Y", "frame.packet_flags_direction == 1 && tcp.flags.syn == 1", "-T", "fields", "-e", "frame.comment")
	if !strings.Contains(syn, ">:7 SYN LISTEN tcp.fsm:") || !strings.Contains(syn, "> new conn SYN-RECEIVED, sent SYN,ACK") {
		t.Errorf("the SYN's comment: %q", syn)
	}
	uncommented := tshark(t, "-r", file, "-Y", "frame.packet_flags_direction == 1 && !frame.comment", "-T", "fields", "-e", "frame.number")
	if strings.TrimSpace(uncommented) != "" {
		t.Errorf("received frames without their trace line: %q", uncommented)
	}

	// A comment on a frame reaches tshark.
	file2 := filepath.Join(t.TempDir(), "comment.pcapng")
	f2, err := os.Create(file2)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pcap.NewWriter(f2)
	if err != nil {
		t.Fatal(err)
	}
	frame := make([]byte, 60)
	copy(frame, net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	if err := w.WriteFrame(time.Unix(1, 0), frame, pcap.DirIn, "#1 eth 60B drop ethertype"); err != nil {
		t.Fatal(err)
	}
	f2.Close()
	if got := strings.TrimSpace(tshark(t, "-r", file2, "-T", "fields", "-e", "frame.comment")); got != "#1 eth 60B drop ethertype" {
		t.Errorf("frame.comment = %q", got)
	}
}

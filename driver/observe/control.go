package observe

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultRunDir is where servers put their control sockets; the environment
// variable NETSPEC_RUN_DIR overrides it (tests, hosts without /run).
const DefaultRunDir = "/run/netspec"

// RunDir returns the control sockets' directory: $NETSPEC_RUN_DIR, or
// DefaultRunDir.
func RunDir() string {
	if d := os.Getenv("NETSPEC_RUN_DIR"); d != "" {
		return d
	}
	return DefaultRunDir
}

// SocketPath returns the control socket of the server on interface iface in
// the calling thread's network namespace: RunDir()/netns-INODE/IFACE.sock,
// INODE being the namespace's inode number (RunDir()/IFACE.sock where the
// namespace cannot be read). Interface names are unique only within a
// namespace (every test lab's server end is ns-srv0) and /run is shared by
// all of them, so a server in one namespace must not take the socket of a
// server in another. `netspec stat` finds a server in its own namespace
// first, then the only one anywhere (Servers).
func SocketPath(iface string) string { return filepath.Join(RunDir(), netnsTag(), iface+".sock") }

// netnsTag names the calling thread's network namespace for SocketPath:
// "netns-" and the namespace's inode number, or "" when it cannot tell.
func netnsTag() string {
	self, err := os.Stat("/proc/thread-self/ns/net")
	if err != nil {
		return ""
	}
	st, ok := self.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	return fmt.Sprintf("netns-%d", st.Ino)
}

// ErrNoServer means no server answers on a control socket.
var ErrNoServer = errors.New("no netspec server running")

// ErrInUse means a live server already holds the control socket.
var ErrInUse = errors.New("control socket in use by a running server")

// request is the one line a client sends; "snapshot" is the only one yet.
const request = "snapshot"

// ioTimeout bounds one control exchange, so a stuck peer cannot hold a
// connection (or a goroutine) forever.
const ioTimeout = 5 * time.Second

// Control is a control socket server: each connection sends one request
// line and receives one JSON Snapshot.
type Control struct {
	ln   *net.UnixListener
	path string
	snap func() (Snapshot, error)
	wg   sync.WaitGroup
	once sync.Once
}

// Listen opens the control socket at path (creating its directory) and
// serves snapshots from snap until Close. A socket file left by a server
// that died is replaced; one that a live server answers on is not
// (ErrInUse).
func Listen(path string, snap func() (Snapshot, error)) (*Control, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if _, err := os.Lstat(path); err == nil {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s: %w", path, ErrInUse)
		}
		if err := os.Remove(path); err != nil { // stale: its server is gone
			return nil, fmt.Errorf("control socket: remove stale %s: %w", path, err)
		}
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ln.SetUnlinkOnClose(true)
	c := &Control{ln: ln, path: path, snap: snap}
	c.wg.Add(1)
	go c.serve()
	return c, nil
}

// Path returns the socket's path.
func (c *Control) Path() string { return c.path }

func (c *Control) serve() {
	defer c.wg.Done()
	for {
		conn, err := c.ln.Accept()
		if err != nil {
			return // closed
		}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.answer(conn)
		}()
	}
}

// answer reads one request line and writes the snapshot or {"error": ...}.
func (c *Control) answer(conn net.Conn) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(ioTimeout))
	line, err := bufio.NewReaderSize(conn, 256).ReadString('\n')
	if err != nil {
		return
	}
	enc := json.NewEncoder(conn)
	if strings.TrimSpace(line) != request {
		enc.Encode(reply{Error: fmt.Sprintf("unknown request %q", strings.TrimSpace(line))})
		return
	}
	s, err := c.snap()
	if err != nil {
		enc.Encode(reply{Error: err.Error()})
		return
	}
	enc.Encode(reply{Snapshot: &s})
}

// Close stops serving, waits for the exchanges in progress and removes the
// socket file.
func (c *Control) Close() error {
	var err error
	c.once.Do(func() {
		err = c.ln.Close()
		c.wg.Wait()
		// A namespace's directory goes with its last socket (Remove
		// refuses a directory that still holds one).
		if d := filepath.Dir(c.path); strings.HasPrefix(filepath.Base(d), "netns-") {
			os.Remove(d)
		}
	})
	return err
}

// reply is what the server sends back.
type reply struct {
	Snapshot *Snapshot `json:"snapshot,omitempty"`
	Error    string    `json:"error,omitempty"`
}

// Fetch asks the server on the control socket at path for a snapshot. When
// nobody answers there it returns an error wrapping ErrNoServer.
func Fetch(path string) (Snapshot, error) {
	conn, err := net.DialTimeout("unix", path, ioTimeout)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return Snapshot{}, fmt.Errorf("%w (nothing answers on %s)", ErrNoServer, path)
		}
		return Snapshot{}, fmt.Errorf("control socket: %w", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := conn.Write([]byte(request + "\n")); err != nil {
		return Snapshot{}, fmt.Errorf("control socket %s: %w", path, err)
	}
	var r reply
	if err := json.NewDecoder(conn).Decode(&r); err != nil {
		return Snapshot{}, fmt.Errorf("control socket %s: bad reply: %w", path, err)
	}
	if r.Error != "" {
		return Snapshot{}, fmt.Errorf("server: %s", r.Error)
	}
	if r.Snapshot == nil {
		return Snapshot{}, fmt.Errorf("control socket %s: empty reply", path)
	}
	return *r.Snapshot, nil
}

// Server is a running server's control socket, as Servers finds it.
type Server struct {
	Iface string // the interface it serves on
	Path  string // its control socket
	NetNS string // "netns-INODE" (SocketPath), or "" when none was known
}

// Name is the server's interface with its namespace tag
// ("netns-4026532281/ns-srv0").
func (s Server) Name() string {
	if s.NetNS == "" {
		return s.Iface
	}
	return s.NetNS + "/" + s.Iface
}

// Servers lists the control sockets under RunDir, in every network
// namespace (netns-*/, and RunDir itself for servers that could not name
// theirs). A socket may be stale (its server died); Fetch tells.
func Servers() ([]Server, error) {
	var out []Server
	for _, pattern := range []string{"*.sock", filepath.Join("netns-*", "*.sock")} {
		m, err := filepath.Glob(filepath.Join(RunDir(), pattern))
		if err != nil {
			return nil, err
		}
		for _, p := range m {
			ns := ""
			if d := filepath.Base(filepath.Dir(p)); strings.HasPrefix(d, "netns-") {
				ns = d
			}
			out = append(out, Server{Iface: strings.TrimSuffix(filepath.Base(p), ".sock"), Path: p, NetNS: ns})
		}
	}
	return out, nil
}

// Package observe shows a running stack from outside: its counters grouped
// like Linux's `netstat -s` (Ip, Icmp, Tcp, TcpExt, Udp, Link, Arp, Reasm,
// Loop), the hit count of every spec row, and its TCP sockets like
// `ss -tani`. A Snapshot holds all three; Take reads it from a stack inside
// its event loop. From a snapshot the package builds the Prometheus
// collector (`netspec serve --metrics`), the control socket that
// `netspec stat` and `netspec ss` read (/run/netspec/netns-INODE/IFACE.sock), and the
// text those two commands print.
package observe

#!/usr/bin/env bash
# Compare netspec with the Linux kernel on the same veth, in the same run, with
# the same net/http handler (http.FileServer over one directory):
#   keep-alive requests/s  (wrk, 50 connections, small page)
#   new connections/s      (wrk with "Connection: close")
#   download Gbit/s        (curl, one 1 GiB file, one connection)
# Needs root, iproute2, wrk and curl. Every run is bounded in time and the lab
# namespaces are removed on exit, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."

DUR=${DUR:-10}            # seconds per wrk run
CONNS=${CONNS:-50}        # wrk connections
BIG=${BIG:-1073741824}    # download size in bytes
PREFIX=${PREFIX:-nsbench$$}
# shellcheck source=bench/lib.sh
. bench/lib.sh ip wrk curl
head -c "$BIG" /dev/zero > "$work/www/big.bin"

./bin/netspec lab up --prefix "$PREFIX" >/dev/null
siface=$(ifaceof "$SRV")

measure() { # name
  local name=$1 ka cc dl
  ka=$(ip netns exec "$CLI" timeout $((DUR + 20)) wrk -t2 -c"$CONNS" -d"${DUR}s" "http://$ADDR/index.html" | awk '/Requests\/sec/ {print $2}')
  cc=$(ip netns exec "$CLI" timeout $((DUR + 20)) wrk -t2 -c"$CONNS" -d"${DUR}s" -H "Connection: close" "http://$ADDR/index.html" | awk '/Requests\/sec/ {print $2}')
  dl=$(ip netns exec "$CLI" timeout 120 curl -s -o /dev/null -w '%{speed_download}' "http://$ADDR/big.bin" | awk '{printf "%.2f", $1*8/1e9}')
  printf '%-8s keep-alive %10s req/s   new-conn %10s conn/s   download %6s Gbit/s\n' "$name" "$ka" "$cc" "$dl"
}

# netspec: the server veth has no kernel address.
ip netns exec "$SRV" ./bin/netspec serve --iface "$siface" --addr "$ADDR/24" --http 80 --root "$work/www" 2>"$work/netspec.log" &
srvpid=$!
waitup
measure netspec
kill "$srvpid"; wait "$srvpid" 2>/dev/null || true; srvpid=""

# Linux: a fresh lab (the client's ephemeral ports are still in TIME-WAIT from
# the netspec run, which would throttle the kernel's new connections), the
# same veth with the address, and the same handler on a kernel socket.
./bin/netspec lab down --prefix "$PREFIX" >/dev/null
./bin/netspec lab up --prefix "$PREFIX" >/dev/null
siface=$(ifaceof "$SRV")
ip -n "$SRV" addr add "$ADDR/24" dev "$siface"
ip netns exec "$SRV" "$work/kernelsrv" --addr "$ADDR:80" --root "$work/www" &
srvpid=$!
waitup
measure linux

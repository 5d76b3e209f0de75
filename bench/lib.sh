# Shared set-up of the lab scripts in bench/ (sourced; needs PREFIX set and
# the working directory at the repository root). It checks for root and the
# given tools, makes $work, builds bin/netspec and $work/kernelsrv, writes
# a ~612-byte $work/www/index.html (about nginx's default page), and on exit
# stops $srvpid, removes the lab named $PREFIX and $work, also on failure.
# Usage: . bench/lib.sh TOOL...
CLI=$PREFIX-cli SRV=$PREFIX-srv
ADDR=198.18.0.2
for tool in "$@"; do
  command -v "$tool" >/dev/null || { echo "bench: $tool not installed" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "bench: needs root" >&2; exit 2; }

work=$(mktemp -d)
srvpid=""
cleanup() {
  if [ -n "$srvpid" ]; then kill "$srvpid" 2>/dev/null || true; wait "$srvpid" 2>/dev/null || true; fi
  ./bin/netspec lab down --prefix "$PREFIX" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

go build -o bin/netspec ./cmd/netspec
go build -o "$work/kernelsrv" ./bench/kernelsrv
mkdir "$work/www"
head -c 612 /dev/urandom | base64 -w 80 > "$work/www/index.html"

# ifaceof NS: the veth end inside namespace NS.
ifaceof() { ip -n "$1" -o link show type veth | awk -F': ' '{print $2}' | cut -d@ -f1 | head -1; }

# waitup: wait until the server answers HTTP from the client namespace.
waitup() {
  for _ in $(seq 100); do
    ip netns exec "$CLI" curl -s -o /dev/null -m 1 "http://$ADDR/" && return 0
    sleep 0.1
  done
  echo "bench: server did not come up" >&2; exit 1
}

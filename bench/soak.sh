#!/usr/bin/env bash
# Soak (issue 14, docs/robustness.md): SOAK of mixed load against `netspec
# serve` in its own namespaces, with the server's link impaired (--faults),
# while bench/soakmon samples the server's RSS, heap, goroutines,
# connections and timers every EVERY. At once, each in a loop until the end:
#   wrk        keep-alive requests (wrk -c20, 30 s runs)
#   ab         a new connection per request (HTTP/1.0, no keep-alive)
#   curl       downloads of an 8 MiB file, each checked by sha256
#   synflood   SYNs from spoofed on-link sources at FLOODRATE a second
#              (each source resolved with ARP), and hping3 SYNs from random
#              off-link sources at the same rate (no route: dropped on receipt)
# At the end: the summary of each load, soakmon's table (every figure flat
# after the warm-up), no corrupted download, and the server exits 0 on
# SIGTERM. The samples stay in $SOAKDIR/samples.csv. Exit 1 on a failure.
#   SOAK=20m bash bench/soak.sh        (make soak SOAK=20m; default 3m)
# The verdict ignores a warm-up of WARMUP (default a fifth of SOAK, at
# least 75 s: TIME-WAIT lasts 60 s, so the connection table fills for a
# minute before it is steady).
# Needs root, iproute2, curl, wrk, ab, hping3. Every tool runs under timeout;
# the namespaces are removed on exit, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."

SOAK=${SOAK:-3m}
FAULTS=${FAULTS:-loss=0.005,dup=0.005,reorder=0.005,corrupt=0.001,txloss=0.005,seed=14}
FLOODRATE=${FLOODRATE:-200}
PREFIX=${PREFIX:-nssoak$$}
SOAKDIR=${SOAKDIR:-$(mktemp -d /tmp/netspec-soak.XXXXXX)}
mkdir -p "$SOAKDIR"
# shellcheck source=bench/lib.sh
. bench/lib.sh ip curl wrk ab hping3 timeout sha256sum

tosecs() { # 20m, 90s, 1h30m -> seconds
  local s=$1 t=0 n u
  while [[ $s =~ ^([0-9]+)([hms])(.*)$ ]]; do
    n=${BASH_REMATCH[1]} u=${BASH_REMATCH[2]} s=${BASH_REMATCH[3]}
    case $u in h) t=$((t + n * 3600)) ;; m) t=$((t + n * 60)) ;; s) t=$((t + n)) ;; esac
  done
  [ -z "$s" ] && echo $t || echo 0
}
secs=$(tosecs "$SOAK")
EVERY=${EVERY:-$((secs >= 600 ? 5 : 2))}s
WARMUP=${WARMUP:-$((secs / 5 > 75 ? secs / 5 : 75))s}
[ "$secs" -ge $((${WARMUP%s} + 30)) ] || { echo "soak: SOAK=$SOAK: want at least the warm-up ($WARMUP) + 30s" >&2; exit 2; }

# The server's control socket in our own directory: the lab's interface
# names are the same in every lab, so servers of other labs would collide.
export NETSPEC_RUN_DIR=$work/run
go build -o "$work/soakmon" ./bench/soakmon
go build -o "$work/synflood" ./bench/synflood
head -c $((8 << 20)) /dev/urandom > "$work/www/big.bin"
want=$(sha256sum "$work/www/big.bin" | cut -d' ' -f1)

# Stop the load loops too when anything fails.
loadpids=()
stopall() {
  for p in "${loadpids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  cleanup
}
trap stopall EXIT INT TERM

./bin/netspec lab up --prefix "$PREFIX" >/dev/null
siface=$(ifaceof "$SRV")
ip netns exec "$SRV" ./bin/netspec serve --iface "$siface" --addr "$ADDR/24" --http 80 --root "$work/www" \
  --faults "$FAULTS" --drain 10s 2>"$SOAKDIR/netspec.log" &
srvpid=$!
waitup
sock=$NETSPEC_RUN_DIR/$siface.sock
echo "soak: $SOAK against netspec (pid $srvpid) with faults $FAULTS, SYN floods at $FLOODRATE/s; samples every $EVERY in $SOAKDIR"

end=$(($(date +%s) + secs))
left() { echo $((end - $(date +%s))); }
cli() { ip netns exec "$CLI" "$@"; }

"$work/soakmon" -pid "$srvpid" -sock "$sock" -every "$EVERY" -duration "$((secs + 5))s" -warmup "$WARMUP" \
  -csv "$SOAKDIR/samples.csv" >"$SOAKDIR/soakmon.out" 2>&1 &
monpid=$!

( # keep-alive
  while [ "$(left)" -gt 2 ]; do
    d=$(( $(left) < 30 ? $(left) : 30 ))
    cli timeout $((d + 15)) wrk -t1 -c20 -d"${d}s" --timeout 5s "http://$ADDR/index.html" | awk '/requests in/ {print $1}' >>"$SOAKDIR/wrk.n" || echo fail >>"$SOAKDIR/wrk.n"
  done ) & loadpids+=($!)
( # a connection per request
  while [ "$(left)" -gt 2 ]; do
    cli timeout 60 ab -q -n 2000 -c 10 -s 10 -r "http://$ADDR/index.html" 2>/dev/null |
      awk '/^Complete requests/ {c=$3} /^Failed requests/ {f=$3} END {print c+0, f+0}' >>"$SOAKDIR/ab.n" || echo "0 0 fail" >>"$SOAKDIR/ab.n"
  done ) & loadpids+=($!)
( # downloads, every byte checked: a download curl reports complete
  # (exit 0) with other bytes is corrupted; one it reports failed (reset,
  # timeout) is counted as failed, with curl's reason in curl.err
  while [ "$(left)" -gt 2 ]; do
    rm -f "$work/dl"
    if cli timeout 120 curl -sS --fail --max-time 100 -o "$work/dl" "http://$ADDR/big.bin" 2>>"$SOAKDIR/curl.err"; then
      if [ "$(sha256sum <"$work/dl" | cut -d' ' -f1)" = "$want" ]; then echo ok; else echo CORRUPT; cp "$work/dl" "$SOAKDIR/corrupt.$(date +%s)"; fi
    else
      echo failed
    fi >>"$SOAKDIR/curl.n"
  done ) & loadpids+=($!)
( # low-rate SYN floods, on-link and off-link sources
  cli "$work/synflood" -dst "$ADDR" -src 198.18.0.0/24 -rate "$FLOODRATE" -duration "$(left)s" >"$SOAKDIR/synflood.out" 2>&1 || true ) & loadpids+=($!)
( cli timeout "$(left)" hping3 -q -S -p 80 -i "u$((1000000 / FLOODRATE))" --rand-source "$ADDR" >/dev/null 2>&1 || true ) & loadpids+=($!)

for p in "${loadpids[@]}"; do wait "$p" || true; done
loadpids=()
monok=0
wait "$monpid" || monok=$?

kill -TERM "$srvpid"
srvrc=0
wait "$srvpid" || srvrc=$?
srvpid=""

n() { local c=0; [ -f "$1" ] && c=$(grep -c "$2" "$1" || true); echo "${c:-0}"; }
wrkreq=$(awk '$1 ~ /^[0-9]+$/ {s+=$1} END {print s+0}' "$SOAKDIR/wrk.n" 2>/dev/null || echo 0)
abreq=$(awk '{c+=$1; f+=$2} END {print c+0, f+0}' "$SOAKDIR/ab.n" 2>/dev/null || echo "0 0")
echo
echo "== load over $SOAK"
printf '%-34s %s\n' "wrk keep-alive requests" "$wrkreq ($(n "$SOAKDIR/wrk.n" fail) runs failed)"
printf '%-34s %s\n' "ab requests (complete, failed)" "$abreq"
printf '%-34s %s\n' "curl 8 MiB downloads" "$(n "$SOAKDIR/curl.n" '^ok') byte-exact, $(n "$SOAKDIR/curl.n" failed) failed, $(n "$SOAKDIR/curl.n" CORRUPT) corrupted"
printf '%-34s %s\n' "on-link spoofed SYNs" "$(cat "$SOAKDIR/synflood.out" | tail -1)"
grep -h "faults applied" "$SOAKDIR/netspec.log" | sed 's/.*stats=/link faults applied: /' || true
echo
echo "== server figures (soakmon; CSV $SOAKDIR/samples.csv)"
cat "$SOAKDIR/soakmon.out"
echo
fail=0
[ "$(n "$SOAKDIR/curl.n" CORRUPT)" = 0 ] || { echo "soak: FAIL: corrupted downloads"; fail=1; }
[ "$(n "$SOAKDIR/curl.n" '^ok')" -gt 0 ] || { echo "soak: FAIL: no download completed"; fail=1; }
[ "$monok" = 0 ] || { echo "soak: FAIL: a figure grew or the server stopped answering (soakmon exit $monok)"; fail=1; }
[ "$srvrc" = 0 ] || { echo "soak: FAIL: netspec serve exited $srvrc on SIGTERM"; fail=1; }
[ $fail = 0 ] && echo "soak: PASS: flat, no corrupted transfer, clean exit"
exit $fail

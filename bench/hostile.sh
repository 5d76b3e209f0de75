# Hostile-client and memory scenarios of docs/robustness.md (sourced by
# bench/robust.sh, which provides startsrv/stopsrv, $srvpid, $CLI, $SRV,
# $ADDR, $siface, $ciface and $work with $work/hostile built). Each prints
# rows "SERVER  SCENARIO  RESULT"; every tool runs under timeout.

rsskb() { awk '/^VmRSS:/ {print $2}' "/proc/$srvpid/status"; }
mb() { awk -v k="$1" 'BEGIN {printf "%.1f MB", k / 1024}'; }
row() { printf '%-11s %-16s %s\n' "$@"; }

# alive: does the server process run and answer HTTP?
alive() {
  if ! kill -0 "$srvpid" 2>/dev/null; then echo "DIED"; return; fi
  if ip netns exec "$CLI" curl -sf -m 5 -o /dev/null "http://$ADDR/"; then echo "survives, serves"; else echo "survives, DOES NOT SERVE"; fi
}

# counter NAME: a server-side counter: netspec's (netspec stat) or, for
# Linux, the namespace's (nstat, e.g. TcpExtTCPChallengeACK).
counter() {
  case $1 in
    tcp.*|ip.*|link.*) ./bin/netspec stat --iface "$siface" 2>/dev/null | awk -v n="$1" '$2 == n {print $1; f=1} END {if (!f) print "?"}' ;;
    *) ip netns exec "$SRV" nstat -az "$1" 2>/dev/null | awk -v n="$1" '$1 == n {print $2; f=1} END {if (!f) print "?"}' ;;
  esac
}

hostile() { # server name
  local name=$1 out kb0 kb1 chal lim
  case $name in
    netspec) chal=tcp.ChallengeACKs lim=tcp.ChallengeLimited ;;
    *) chal=TcpExtTCPChallengeACK lim=TcpExtTCPACKSkippedChallenge ;;
  esac
  out=$(ip netns exec "$CLI" timeout 60 "$work/hostile" rst -iface "$ciface" -dst "$ADDR" -conns 50 -random 20000 -inwindow 1000 2>&1 | tail -1)
  row "$name" blind-rst "$(sed -E 's/^rst: ([0-9]+ of [0-9]+ connections killed).*/\1/' <<<"$out") by 20,000 random-sequence + 1,000 in-window RSTs; challenge ACKs $(counter $chal) sent, $(counter $lim) rate-limited; $(alive)"
  for scan in -sS -sA -sF -sX -sN -O; do
    out=$(ip netns exec "$CLI" timeout 300 nmap "$scan" -n -Pn -T4 --max-retries 1 -p 1-1024 "$ADDR" 2>&1) || true
    out=$(grep -E '^(Not shown|[0-9]+/tcp|OS details|Aggressive OS|No exact OS|Running|Too many fingerprints)' <<<"$out" | head -4 | tr '\n' ';' | tr -s ' ')
    row "$name" "nmap $scan" "$(alive); nmap: ${out:-no result}"
  done
  fragflood "$name"
  local mac
  mac=$(ip -n "$CLI" neigh show "$ADDR" | awk '{print $5}')
  kb0=$(rsskb)
  out=$(ip netns exec "$CLI" timeout 90 "$work/hostile" malformed -iface "$ciface" -dstmac "$mac" -dst "$ADDR" -src 198.18.0.1 -count 50000 2>&1 | tail -1)
  sleep 1; kb1=$(rsskb)
  row "$name" malformed "$(alive); RSS $(mb "$kb0") -> $(mb "$kb1"); $out"
}

fragflood() { # server name
  local name=$1 out kb0 kb1 fc
  kb0=$(rsskb)
  out=$(ip netns exec "$CLI" timeout 60 "$work/hostile" frag -dst "$ADDR" -src 198.18.0.1 -count 20000 2>&1 | tail -1)
  sleep 1; kb1=$(rsskb)
  # Who reassembled: netspec's fsm/ip (every fragment on loop 0) or the
  # server namespace's kernel (Linux's own IP stack).
  case $name in
    netspec*) fc="netspec reassembly: $(counter ip.Fragments) fragments, $(counter ip.frag.drop.Evicted) evicted" ;;
    *) fc="kernel reassembly: $(counter IpReasmReqds) fragments, $(counter IpReasmFails) failures" ;;
  esac
  row "$name" frag-flood "$(alive); RSS $(mb "$kb0") -> $(mb "$kb1"); $fc; $out"
}

# holdconns ARGS...: runs hostile hold in the background until it reports
# ready (or 120 s pass); $holdpid, output in $work/hold.out.
holdconns() {
  : >"$work/hold.out"
  ip netns exec "$CLI" timeout 400 "$work/hostile" hold -dst "$ADDR" "$@" >"$work/hold.out" 2>&1 &
  holdpid=$!
  for _ in $(seq 1200); do grep -q ready "$work/hold.out" && return 0; sleep 0.1; done
  echo "robust: hostile hold never got ready" >&2
}

# kernmem: the kernel's slab memory in KB (/proc/meminfo Slab), where
# Linux keeps its sockets; it is the whole host's, so other work on the
# machine moves it too: netspec's rows, which take no kernel sockets, show
# that noise.
kernmem() { awk '$1 == "Slab:" {print $2}' /proc/meminfo; }

slowloris() { # server name
  local name=$1 kb0 kb1 k0 k1
  kb0=$(rsskb) k0=$(kernmem)
  holdconns -conns 1000 -slowloris -duration 9s
  sleep 2; kb1=$(rsskb) k1=$(kernmem)
  wait "$holdpid" || true
  row "$name" slowloris-1000 "RSS $(mb "$kb1") (idle $(mb "$kb0")); $(grep ready "$work/hold.out" | sed 's/^hold: ready: //'); kernel slab +$((k1 - k0)) KB; $(alive)"
}

heldchurn() { # server name
  local name=$1 kb0 kb1 kb2 k0 k1 k2 out
  kb0=$(rsskb) k0=$(kernmem)
  holdconns -conns 10000 -duration 300s
  sleep 3; kb1=$(rsskb) k1=$(kernmem)
  row "$name" held-10000 "RSS $(mb "$kb1") (idle $(mb "$kb0")): $(awk -v a="$kb0" -v b="$kb1" 'BEGIN {printf "%.1f KB", (b - a) / 10000}') per connection; kernel slab +$((k1 - k0)) KB; $(grep ready "$work/hold.out" | sed 's/^hold: ready: //')"
  out=$(ip netns exec "$CLI" timeout 300 ab -q -n 50000 -c 50 -s 10 -r "http://$ADDR/index.html" 2>&1 | awk '/^Complete requests/ {c=$3} /^Failed requests/ {f=$3} /^Requests per second/ {r=$4} END {printf "%d complete, %d failed, %s conn/s", c, f, r}')
  sleep 3; kb2=$(rsskb) k2=$(kernmem)
  row "$name" +churn-50000 "RSS $(mb "$kb2") ($(awk -v a="$kb1" -v b="$kb2" 'BEGIN {printf "%.2f", b / a}') x the 10,000-held figure); kernel slab +$((k2 - k0)) KB; ab: $out; $(alive)"
  kill "$holdpid" 2>/dev/null || true; wait "$holdpid" 2>/dev/null || true
}

#!/usr/bin/env bash
# SYN-flood scenarios of docs/robustness.md (issue 14): wrk's requests/s
# against netspec and against the Linux kernel serving the same net/http
# handler (bench/kernelsrv), without a flood and during two floods, in the
# same run, each server in fresh namespaces:
#   rand-source  hping3 -S --flood --rand-source -p 80 (sources anywhere:
#                off-link, and the server has no gateway, so no route back)
#   on-link      bench/synflood: sources drawn per packet from the server's
#                own /24 (198.18.0.3-254), so each one is resolved with ARP
# For each it prints keep-alive req/s (wrk -c CONNS) and new connections/s
# (wrk with "Connection: close"), the ratio to the unflooded figure, and
# what the client saw the server send during the flood (ARP requests and
# SYN-ACKs, counted by an nftables ingress rule in the client namespace).
# Then, against netspec and linux (bench/hostile.sh, bench/hostile): blind
# RST injection into 50 keep-alive connections (20,000 random-sequence and
# 1,000 in-window RSTs), nmap -sS/-sA/-sF/-sX/-sN/-O, a 20,000-fragment
# flood and 50,000 malformed frames (each followed by an HTTP check), RSS
# with 1,000 slowloris connections, and RSS with 10,000 held keep-alive
# connections and after 50,000 more churned (ab, a connection per request).
# SCENARIOS picks among flood, hostile, memory and frag.
# Needs root, iproute2, nftables, wrk, hping3, nmap and ab (make robust
# installs them: scripts/deps.sh robust). Every flood is bounded in time;
# namespaces are removed on exit, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."

DUR=${DUR:-5}                # seconds per wrk run
CONNS=${CONNS:-50}           # wrk connections
SERVERS=${SERVERS:-"netspec netspec-gw linux linux-gw"}
# flood: the SYN floods above; hostile: blind RSTs, nmap scans, a fragment
# flood and malformed frames; memory: RSS with 1,000 slowloris connections,
# with 10,000 held and after 50,000 more churned (bench/hostile.sh; these
# two run against netspec and linux only); frag: the fragment flood of
# hostile alone.
SCENARIOS=${SCENARIOS:-"flood hostile memory"}
# flood: ROUNDS rounds of (unflooded, each flood) per server; each ratio is
# to the unflooded figure of its own round, and with ROUNDS > 1 their
# medians are printed (this machine's load moves single figures by 2x).
ROUNDS=${ROUNDS:-1}
# flood: each round, NEWCLIENTS clients from fresh addresses connect once
# during a random-source flood (their connect times; 0: not measured).
NEWCLIENTS=${NEWCLIENTS:-0}
PREFIX=${PREFIX:-nsrob$$}
NETSPEC_ARGS=${NETSPEC_ARGS:-}
# shellcheck source=bench/lib.sh
. bench/lib.sh ip nft wrk hping3 curl nmap ab
go build -o "$work/synflood" ./bench/synflood
go build -o "$work/hostile" ./bench/hostile
# Each server's control socket in our own directory: the lab's interface
# names are the same in every lab, so servers of other labs would collide.
export NETSPEC_RUN_DIR=$work/run

labup() {
  ./bin/netspec lab up --prefix "$PREFIX" >/dev/null
  siface=$(ifaceof "$SRV") ciface=$(ifaceof "$CLI")
  # The client may reuse a port its own TIME-WAIT holds (RFC 6191 with
  # timestamps): without it, wrk's new connections ran the client out of
  # ephemeral ports after ~20 s of churn (14,000 TIME-WAIT sockets; each
  # connect() then searched the range for ~100 ms), so every later
  # new-connection figure measured the client's port search, not the server.
  ip netns exec "$CLI" sysctl -qw net.ipv4.tcp_tw_reuse=1
  # Count what reaches the client from the server: ARP requests, SYN-ACKs.
  ip netns exec "$CLI" nft -f - <<EOF
table netdev robust {
  counter arpreq {}
  counter synack {}
  chain in {
    type filter hook ingress device "$ciface" priority 0;
    arp operation request counter name arpreq
    tcp flags & (syn|ack) == syn|ack counter name synack
  }
}
EOF
}

counters() { # prints "arp synack"
  ip netns exec "$CLI" nft list counters table netdev robust 2>/dev/null |
    awk '$1 == "counter" {n=$2} $1 == "packets" {p[n]=$2} END {printf "%d %d\n", p["arpreq"], p["synack"]}'
}

wrkrate() { # extra wrk args...
  ip netns exec "$CLI" timeout $((DUR + 20)) wrk -t2 -c"$CONNS" -d"${DUR}s" --timeout 2s "$@" "http://$ADDR/index.html" |
    awk '/Requests\/sec/ {print $2}'
}

flood() { # kind: start a flood bounded to DUR+2 s in the background
  case $1 in
    rand-source) ip netns exec "$CLI" timeout $((DUR + 2)) hping3 -q -S --flood --rand-source -p 80 "$ADDR" >/dev/null 2>&1 & ;;
    on-link) ip netns exec "$CLI" "$work/synflood" -dst "$ADDR" -src 198.18.0.0/24 -duration $((DUR + 2))s >"$work/synflood.out" 2>&1 & ;;
  esac
  floodpid=$!
  sleep 1
}

halfopen() { # server name: its half-open (SYN-RECEIVED) connections now
  case $1 in
    linux*) ip netns exec "$SRV" ss -Htan state syn-recv 2>/dev/null | wc -l ;;
    *) ip netns exec "$SRV" ./bin/netspec ss --iface "$siface" 2>/dev/null | grep -c SYN-RECV || true ;;
  esac
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

median() { # numbers on stdin ("-" skipped): their median, or "-"
  tr ' ' '\n' | grep -E '^[0-9.]+$' | sort -g |
    awk '{a[NR] = $1} END {if (NR) printf "%.2f", (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2); else print "-"}'
}

measure() { # server name
  local name=$1 ka0 cc0 ka cc kind before after kb0 round newc=""
  local -A rka rcc
  for round in $(seq "$ROUNDS"); do
    ka0=$(wrkrate); cc0=$(wrkrate -H "Connection: close")
    kb0=$(rsskb)
    printf '%-14s %-12s keep-alive %9s req/s            new-conn %9s conn/s   RSS %s KB\n' "$name" none "$ka0" "$cc0" "$kb0"
    for kind in rand-source on-link; do
      before=$(counters)
      flood $kind; ka=$(wrkrate); wait $floodpid || true
      flood $kind; cc=$(wrkrate -H "Connection: close"); wait $floodpid || true
      after=$(counters)
      set -- $before $after
      rka[$kind]+=" $(ratio "$ka" "$ka0")" rcc[$kind]+=" $(ratio "$cc" "$cc0")"
      printf '%-14s %-12s keep-alive %9s req/s (%5s)    new-conn %9s conn/s (%5s)   server sent: %d ARP requests, %d SYN-ACKs' \
        "$name" "$kind" "$ka" "$(ratio "$ka" "$ka0")" "$cc" "$(ratio "$cc" "$cc0")" $(($3 - $1)) $(($4 - $2))
      sleep 2 # let the half-open connections of the flood start timing out
      # Half-open left 2 s after the flood (bounded by the SYN queue; they go
      # once their SYN,ACK retries run out) and the process's RSS (the Linux
      # server's is its handler's, the stack being in the kernel).
      printf '; 2 s after: %s half-open, RSS %s KB\n' "$(halfopen "$name")" "$(rsskb)"
    done
    [ "$NEWCLIENTS" -gt 0 ] || continue
    # New clients during the random-source flood: NEWCLIENTS addresses
    # that never connected before (fresh each round) each make one
    # request; their connect times show what a SYN filter that admits a
    # share of unproven sources costs them (a lost SYN waits 1 s, 3 s...).
    # Off-link addresses, like the flood's, for a server with a gateway
    # (the client namespace routes them back to itself); on-link ones
    # for a server without (it has no route to any other).
    local i a t times="" pids=""
    flood rand-source
    for i in $(seq "$NEWCLIENTS"); do
      a=198.18.0.$((200 + NEWCLIENTS * (round - 1) + i))
      case $name in *-gw*) a=198.19.0.$((NEWCLIENTS * (round - 1) + i)) ;; esac
      ip -n "$CLI" addr add "$a/32" dev "$ciface"
      ip netns exec "$CLI" curl -s -o /dev/null -m $((DUR + 1)) --interface "$a" -w '%{time_connect}\n' "http://$ADDR/index.html" >"$work/newc.$i" 2>/dev/null &
      pids+=" $!"
    done
    # shellcheck disable=SC2086
    wait $pids 2>/dev/null || true
    for i in $(seq "$NEWCLIENTS"); do
      t=$(tail -1 "$work/newc.$i" 2>/dev/null); case $t in ""|0.000000) t=none ;; esac
      times+=" $t"
    done
    wait $floodpid || true
    newc+=" $times"
    printf '%-14s new clients  during rand-source: connect times (s):%s\n' "$name" "$times"
  done
  [ "$ROUNDS" -gt 1 ] || return 0
  [ -z "$newc" ] || printf '%-14s new clients   connect times over %d rounds (s):%s\n' "$name" "$ROUNDS" "$newc"
  for kind in rand-source on-link; do
    printf '%-14s %-12s median of %d rounds: keep-alive ratio %s (%s), new-conn ratio %s (%s)\n' "$name" "$kind" "$ROUNDS" \
      "$(median <<<"${rka[$kind]}")" "${rka[$kind]# }" "$(median <<<"${rcc[$kind]}")" "${rcc[$kind]# }"
  done
}

startsrv() { # server name: fresh namespaces, the server started, $srvpid
  local srv=$1
  labup
  case $srv in
    netspec|netspec-gw|netspec-old|netspec-gw-old)
      # The server veth has no kernel address. netspec: no gateway (off-link
      # sources have no route); netspec-gw: the client is the gateway, so
      # every SYN gets an answer; netspec-old, netspec-gw-old: the same with
      # the binary $OLD_NETSPEC.
      bin=./bin/netspec gw=""
      case $srv in netspec-gw*) gw="--gateway 198.18.0.1" ;; esac
      case $srv in *-old) bin=${OLD_NETSPEC:?$srv needs OLD_NETSPEC=path} ;; esac
      # shellcheck disable=SC2086
      ip netns exec "$SRV" "$bin" serve --iface "$siface" --addr "$ADDR/24" --http 80 --root "$work/www" $gw $NETSPEC_ARGS 2>"$work/netspec.log" & ;;
    linux|linux-gw)
      # The same veth with the address, the same handler; linux: no default
      # route, linux-gw: a default route through the client.
      ip -n "$SRV" addr add "$ADDR/24" dev "$siface"
      [ $srv = linux-gw ] && ip -n "$SRV" route add default via 198.18.0.1
      ip netns exec "$SRV" "$work/kernelsrv" --addr "$ADDR:80" --root "$work/www" >/dev/null & ;;
    *) echo "robust: unknown server $srv (netspec, netspec-gw, netspec-old, netspec-gw-old, linux, linux-gw)" >&2; exit 2 ;;
  esac
  srvpid=$!
  waitup
}

stopsrv() {
  kill -INT "$srvpid"; wait "$srvpid" 2>/dev/null || true; srvpid=""
  ./bin/netspec lab down --prefix "$PREFIX" >/dev/null
}

# shellcheck source=bench/hostile.sh
. bench/hostile.sh

for srv in $SERVERS; do
  case " $SCENARIOS " in *" flood "*)
    startsrv "$srv"; measure "$srv"; stopsrv ;;
  esac
  case "$srv" in netspec|linux) ;; *) continue ;; esac
  case " $SCENARIOS " in *" hostile "*)
    startsrv "$srv"; hostile "$srv"; stopsrv ;;
  esac
  case " $SCENARIOS " in *" frag "*)
    startsrv "$srv"; fragflood "$srv"; stopsrv ;;
  esac
  case " $SCENARIOS " in *" memory "*)
    startsrv "$srv"; slowloris "$srv"; stopsrv
    startsrv "$srv"; heldchurn "$srv"; stopsrv ;;
  esac
done

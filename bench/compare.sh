#!/usr/bin/env bash
# make bench: netspec, gVisor's netstack and the Linux kernel serving the
# same net/http handler (bench/handler: GET /hello, GET /bytes?n=N, POST
# /echo, POST /discard) over one veth between two namespaces, the client
# tools (wrk, ab, bench/benchcli) in the other namespace. ROUNDS rounds, the
# servers alternating within each and each in a fresh pair of namespaces;
# medians, spread and ratios go to OUT (BENCHMARKS.md, between its
# <!-- bench:main/loss begin/end --> markers), the plots to PLOTS and the raw
# results to JSON. bench/benchrun says what each figure is.
#
#   make bench                       # about 12 minutes on 2 cores
#   DUR=3 ROUNDS=1 make bench        # a quick look
#   SCENARIO=main make bench         # without the loss scenario (bench/loss.sh alone)
#   SCENARIO=memory make bench       # only the idle-connection memory figure
#   SCENARIO=bulk make bench         # only the 1 GiB download and upload
#   REVS="main~3 ." make bench       # netspec at two revisions side by side
#   LOOPS="1 2" SCENARIO=rates make bench   # netspec with one and two event loops
#   SCENARIO=close make bench        # new connections, and segments per connection from a capture (tcpdump)
#   SCENARIO=keepalive PROFILES=/tmp/p make bench   # only the keep-alive figures, a CPU profile per server
#
# Knobs: DUR (seconds per wrk run, 10), ROUNDS (3), SCENARIO (main,loss; or memory, bulk, rates, close, keepalive),
# BIG (bulk octets, 1073741824), HOLD (idle connections, 5000), LOSSES,
# SIZE (loss transfer octets), LOSSAT (client or bridge: see bench/loss.sh),
# MAX (bound of the run, 25m), OUT, PLOTS, JSON,
# REVS, LOOPS, NETSPECCC and KERNELCC (netspec and the kernel again with each congestion control listed,
# e.g. cubic: see bench/benchlib.sh), PROFILES (a directory: every server writes a CPU profile there).
# Every tool run is bounded in time; the namespaces (PREFIX-N) are removed
# on exit, also on failure. Needs root; scripts/deps.sh bench installs the tools.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/benchlib.sh
bench_init
bench_build
mkdir -p "${PLOTS:-docs/bench}"
args=(-bin "$work" -prefix "$PREFIX" -scenario "${SCENARIO:-main,loss}" -rounds "${ROUNDS:-3}" -dur "${DUR:-10}"
  -big "${BIG:-1073741824}" -hold "${HOLD:-5000}" -losses "${LOSSES:-0,1,5}" -loss-size "${SIZE:-16777216}"
  -loss-at "${LOSSAT:-client}" -max "${MAX:-25m}" -md "${OUT:-BENCHMARKS.md}" -plots "${PLOTS:-docs/bench}" -json "${JSON:-docs/bench/results.json}")
if [ -n "${PROFILES:-}" ]; then mkdir -p "$PROFILES" && args+=(-cpuprofile-dir "$PROFILES"); fi
"$work/benchrun" "${args[@]}" -command "$(bench_cmd bench/compare.sh DUR ROUNDS SCENARIO BIG HOLD LOSSES SIZE LOSSAT MAX REVS LOOPS NETSPECCC NETSPECTCP KERNELCC PROFILES)" "${SERVERS[@]}"

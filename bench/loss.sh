#!/usr/bin/env bash
# Goodput under random loss with real Linux clients (issue 11): netspec,
# gVisor's netstack and the Linux kernel serve the same handler
# (bench/handler); the client namespace drops LOSSES % of TCP segments both
# ways with nftables (input and output hooks; segmentation offloads off on
# both veths, so a dropped server segment is one segment); a
# Go client on the kernel's TCP downloads and uploads SIZE octets at each
# level; ROUNDS rounds with the servers alternating. Prints the table (Markdown), or splices it into OUT
# (between <!-- bench:loss begin/end --> if the file has them) with the
# plot under PLOTS.
#
#   bash bench/loss.sh                          # netspec (working tree), gVisor, kernel
#   REVS="844cc37^ ." bash bench/loss.sh        # netspec before and after a change, same run
#   LOSSAT=bridge bash bench/loss.sh            # drop between the namespaces: a loss on the wire
#                                               # both ways (the client's own drops in its output
#                                               # hook are local send errors to its TCP)
#   KERNELCC=cubic bash bench/loss.sh           # the kernel with CUBIC beside its default (BBR here)
#   NETSPECCC=bbr bash bench/loss.sh            # netspec with BBR beside its default (CUBIC)
#   NETSPECTCP=NoRecvCoalescing bash bench/loss.sh  # netspec with receive coalescing off beside it
#
# Knobs: ROUNDS (3), LOSSES (0,1,5), SIZE (16777216), MAX (bound, 20m),
# REVS, LOSSAT (client), NETSPECCC, NETSPECTCP, KERNELCC, OUT, PLOTS, JSON. Needs root; see scripts/deps.sh bench.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/benchlib.sh
bench_init
bench_build
args=(-bin "$work" -prefix "$PREFIX" -scenario loss -rounds "${ROUNDS:-3}" -losses "${LOSSES:-0,1,5}"
  -loss-size "${SIZE:-16777216}" -loss-at "${LOSSAT:-client}" -max "${MAX:-20m}" "${SERVERS[@]}")
[ -n "${OUT:-}" ] && args+=(-md "$OUT")
[ -n "${PLOTS:-}" ] && args+=(-plots "$PLOTS")
[ -n "${JSON:-}" ] && args+=(-json "$JSON")
"$work/benchrun" "${args[@]}" -command "$(bench_cmd bench/loss.sh ROUNDS LOSSES SIZE MAX REVS LOSSAT NETSPECCC NETSPECTCP KERNELCC)"

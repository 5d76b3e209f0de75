# Shared by bench/compare.sh and bench/loss.sh (sourced, not run; bench/lib.sh
# is bench/robust.sh's): builds
# the benchmark's programs into a temporary directory and removes it, and
# every namespace of the run, on exit — also on failure or Ctrl-C.
#
#   REVS="REV..."   netspec revisions to measure side by side (default "."
#                   = the working tree); each other REV's stack is built
#                   from `git archive REV` with the current bench/netspecsrv,
#                   and labelled netspec@REV.
#   LOOPS="N..."    event loops of the working tree's netspec (default "1");
#                   each N > 1 is one more server, labelled netspec-Nloops
#                   (netspecsrv --loops N, netspec.Options.Loops).
#   NETSPECCC="CC..." the working tree's netspec once more per congestion
#                   control CC (netspecsrv --cc CC: bbr, newreno), labelled
#                   netspec-CC; "netspec" alone runs the default, CUBIC.
#                   CC+NAME also sets the boolean tcp.Config field NAME
#                   (bbr+NoPacing: BBR unpaced).
#   NETSPECTCP="NAME..." the working tree's netspec once more per boolean
#                   field NAME of fsm/tcp Config set (netspecsrv --tcp NAME,
#                   e.g. NoRecvCoalescing), labelled netspec-NAME.
#   KERNELCC="CC..." the kernel once more per congestion control CC, with
#                   kernelsrv --cc CC (TCP_CONGESTION), labelled kernel-CC;
#                   "kernel" alone runs the namespace's default, which is
#                   the host's (BBR on the benchmark machine; a namespace
#                   cannot choose CUBIC when the host does not allow it).

bench_init() {
  for tool in go git ip wrk ab ethtool nft tc; do
    command -v $tool >/dev/null || { echo "bench: $tool not installed (bash scripts/deps.sh bench)" >&2; exit 2; }
  done
  [ "$(id -u)" = 0 ] || { echo "bench: needs root (network namespaces)" >&2; exit 2; }
  PREFIX=${PREFIX:-nsb$$}
  work=$(mktemp -d)
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

bench_cleanup() {
  local ns
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$PREFIX-" || true); do
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$work"
}

# bench_cmd SCRIPT KNOB...: the command line as a person would type it, with
# the knobs that are set and the revision of the tree, for the report.
bench_cmd() {
  local script=$1 k out=""
  shift
  for k in "$@"; do
    case "${!k:-}" in
      "") ;;
      *" "*) out+="$k=\"${!k}\" " ;;
      *) out+="$k=${!k} " ;;
    esac
  done
  local rev
  rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
  git diff --quiet HEAD 2>/dev/null || rev+=" with local changes"
  echo "${out}bash $script (netspec = the tree at $rev)"
}

# bench_build: benchcli, benchrun, kernelsrv, gvisorsrv and one netspecsrv
# per revision of REVS; sets SERVERS to the benchrun -server flags.
bench_build() {
  local rev short src
  echo "bench: building" >&2
  go build -o "$work/" ./bench/benchcli ./bench/kernelsrv
  # gVisor and the plots live in modules of their own.
  (cd bench/gvisorsrv && go build -o "$work/gvisorsrv" .)
  (cd bench/benchrun && go build -o "$work/benchrun" .)
  SERVERS=()
  for rev in ${REVS:-.}; do
    if [ "$rev" = . ]; then
      go build -o "$work/netspecsrv" ./bench/netspecsrv
      local n
      for n in ${LOOPS:-1}; do
        if [ "$n" = 1 ]; then
          SERVERS+=(-server "netspec=netspec:$work/netspecsrv")
          continue
        fi
        # exec keeps the pid, whose CPU benchrun reads.
        printf '#!/bin/sh\nexec %s --loops %s "$@"\n' "$work/netspecsrv" "$n" >"$work/netspecsrv-l$n"
        chmod +x "$work/netspecsrv-l$n"
        SERVERS+=(-server "netspec-${n}loops=netspec:$work/netspecsrv-l$n")
      done
      for n in ${NETSPECCC:-}; do
        # CC+NAME (e.g. bbr+NoPacing) also sets the boolean field NAME.
        local cc=${n%%+*} set=""
        [ "$cc" != "$n" ] && set="--tcp ${n#*+}"
        printf '#!/bin/sh\nexec %s --cc %s %s "$@"\n' "$work/netspecsrv" "$cc" "$set" >"$work/netspecsrv-$n"
        chmod +x "$work/netspecsrv-$n"
        SERVERS+=(-server "netspec-$n=netspec:$work/netspecsrv-$n")
      done
      for n in ${NETSPECTCP:-}; do
        printf '#!/bin/sh\nexec %s --tcp %s "$@"\n' "$work/netspecsrv" "$n" >"$work/netspecsrv-$n"
        chmod +x "$work/netspecsrv-$n"
        SERVERS+=(-server "netspec-$n=netspec:$work/netspecsrv-$n")
      done
      continue
    fi
    # The stack as it was at REV, with today's server and handler on it.
    short=$(git rev-parse --short "$rev")
    src=$work/src-$short
    mkdir -p "$src"
    git archive "$short" | tar -x -C "$src"
    rm -rf "$src/bench/handler" "$src/bench/netspecsrv"
    mkdir -p "$src/bench"
    cp -r bench/handler bench/netspecsrv "$src/bench/"
    if [ -f "$src/netspec.go" ]; then
      (cd "$src" && go build -o "$work/netspecsrv-$short" ./bench/netspecsrv)
    else # before the root package: the stack assembled by hand, as serve did
      (cd "$src" && go build -tags netspec_legacy -o "$work/netspecsrv-$short" ./bench/netspecsrv/legacy)
    fi
    SERVERS+=(-server "netspec@$short=netspec:$work/netspecsrv-$short")
  done
  SERVERS+=(-server "gvisor=gvisor:$work/gvisorsrv" -server "kernel=kernel:$work/kernelsrv")
  local cc
  for cc in ${KERNELCC:-}; do
    printf '#!/bin/sh\nexec %s --cc %s "$@"\n' "$work/kernelsrv" "$cc" >"$work/kernelsrv-$cc"
    chmod +x "$work/kernelsrv-$cc"
    SERVERS+=(-server "kernel-$cc=kernel:$work/kernelsrv-$cc")
  done
}

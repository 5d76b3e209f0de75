#!/usr/bin/env bash
# deps.sh SET... : make sure the tools a make target uses are installed.
#
# Each SET names the tools one target runs (see TOOLS below). A tool that is
# missing is installed from Debian's packages when we are root (apt-get update
# runs only when an install fails for want of package lists); otherwise the
# script stops at once with one line naming the missing tools and the command
# that installs them. Exit 0 when everything is present, 1 otherwise.
#
#   scripts/deps.sh test        # what make test needs
#   scripts/deps.sh run         # what make run needs
#   scripts/deps.sh robust      # make robust / make soak
#   scripts/deps.sh bench       # make bench
set -euo pipefail

# tool:package pairs, one set per target. A tool is found with command -v.
declare -A TOOLS=(
  [run]="ip:iproute2 curl:curl ethtool:ethtool"
  [test]="ip:iproute2 curl:curl ethtool:ethtool ping:iputils-ping bash:bash nft:nftables hping3:hping3 wrk:wrk tshark:tshark dot:graphviz chromium:chromium"
  [robust]="ip:iproute2 curl:curl ethtool:ethtool ping:iputils-ping nft:nftables hping3:hping3 nmap:nmap wrk:wrk ab:apache2-utils python3:python3 tcpdump:tcpdump"
  [bench]="ip:iproute2 curl:curl ethtool:ethtool nft:nftables tc:iproute2 wrk:wrk ab:apache2-utils tcpdump:tcpdump git:git"
)

if [ $# -eq 0 ]; then set -- test; fi

missing_tools=()
missing_pkgs=()
for set in "$@"; do
  if [ -z "${TOOLS[$set]+x}" ]; then
    echo "deps: unknown set '$set' (known: ${!TOOLS[*]})" >&2
    exit 2
  fi
  for pair in ${TOOLS[$set]}; do
    tool=${pair%%:*} pkg=${pair#*:}
    if ! command -v "$tool" >/dev/null 2>&1; then
      case " ${missing_tools[*]-} " in *" $tool "*) continue ;; esac
      missing_tools+=("$tool")
      case " ${missing_pkgs[*]-} " in *" $pkg "*) ;; *) missing_pkgs+=("$pkg") ;; esac
    fi
  done
done

[ ${#missing_tools[@]} -eq 0 ] && exit 0

install_cmd="apt-get install -y ${missing_pkgs[*]}"
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "netspec: missing tools: ${missing_tools[*]}; install them as root with: $install_cmd (or run make as root)" >&2
  exit 1
fi

echo "deps: installing ${missing_pkgs[*]} (for: ${missing_tools[*]})" >&2
export DEBIAN_FRONTEND=noninteractive
apt_install() { apt-get install -y -qq --no-install-recommends "${missing_pkgs[@]}" >/dev/null; }
if ! apt_install 2>/dev/null; then
  # The package lists are missing or stale: refresh them once and retry.
  apt-get update -qq >/dev/null
  if ! apt_install; then
    echo "netspec: could not install ${missing_pkgs[*]} (for: ${missing_tools[*]}); try: apt-get update && $install_cmd" >&2
    exit 1
  fi
fi

still=()
for tool in "${missing_tools[@]}"; do command -v "$tool" >/dev/null 2>&1 || still+=("$tool"); done
if [ ${#still[@]} -gt 0 ]; then
  echo "netspec: still missing after install: ${still[*]}" >&2
  exit 1
fi

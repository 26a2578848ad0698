#!/usr/bin/env bash
# Installs what kube-proxy-ts needs on a Debian machine (as root), only what is missing,
# then the npm packages from the lock file. Used by `make demo`, `make test`, `make bench` and CI.
set -euo pipefail
cd "$(dirname "$0")/.."

# Node.js >= 20 (package.json engines). Where node is missing or older, Debian's nodejs is installed
# when it is new enough (Debian 13 "trixie": 20.19); Debian 12's is 18, so there the script stops
# and says what to install.
node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(node_major)" -lt 20 ] || ! command -v npm >/dev/null 2>&1; then
  have=$(node --version 2>/dev/null || echo none)
  if [ "$(id -u)" != 0 ]; then echo "setup: Node.js >= 20 and npm needed (found node $have); not root, install them first" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  cand=$(apt-cache policy nodejs | sed -n 's/^ *Candidate: *\([0-9]*\).*/\1/p')
  if [ "${cand:-0}" -lt 20 ]; then
    echo "setup: Node.js >= 20 needed (found node $have); this Debian's nodejs is ${cand:-absent}." >&2
    echo "setup: install Node.js 20 or newer (e.g. Debian 13's nodejs and npm), then run this again." >&2
    exit 1
  fi
  echo "setup: installing Debian's nodejs and npm (found node $have)"
  apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  [ "$(node_major)" -ge 20 ] || { echo "setup: nodejs from apt is still older than 20" >&2; exit 1; }
fi

need=()
for pair in iptables:iptables nft:nftables ipset:ipset conntrack:conntrack ip:iproute2 socat:socat ipvsadm:ipvsadm openssl:openssl jq:jq modinfo:kmod; do
  bin=${pair%%:*} pkg=${pair##*:}
  command -v "$bin" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then echo "setup: missing ${need[*]} and not root; install them first" >&2; exit 1; fi
  echo "setup: installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# npm ci only when node_modules does not match the lock file.
stamp=node_modules/.kpx-lock-stamp
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi

#!/usr/bin/env bash
# Installs what kube-proxy-ts needs on a Debian machine (as root), only what is missing,
# then the npm packages from the lock file. Used by `make demo`, `make test`, `make bench` and CI.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pair in iptables:iptables nft:nftables ipset:ipset conntrack:conntrack ip:iproute2 socat:socat ipvsadm:ipvsadm openssl:openssl jq:jq; do
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

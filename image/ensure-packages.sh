#!/bin/sh
# Install the Debian packages listed in $1 that are missing. The local bases made by scripts/image.sh
# already carry them (no network, no apt in the image); debian:trixie-slim gets them from apt here.
set -eu
missing=""
for p in $(grep -v '^#' "$1"); do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086 # word splitting of the list is intended
apt-get install -y -qq --no-install-recommends $missing
rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb

#!/usr/bin/env bash
# `make image`: builds the kube-proxy-ts image with podman from Debian packages alone, with no container
# registry: mmdebstrap makes two Debian trixie root filesystems from image/runtime.packages and
# image/build.packages, podman imports them as local base images, and podman builds the repository's
# Dockerfile on them (the same Dockerfile users build with a registry). Installs what it needs on a
# Debian machine (as root). Base images are cached in $KPX_IMAGE_CACHE (default
# /var/cache/kube-proxy-ts-image) and in podman's storage, keyed by the package lists; delete the
# cache or set KPX_IMAGE_REFRESH=1 to rebuild them (e.g. for Debian security updates).
#
# Usage: scripts/image.sh [--print-env]   (--print-env: only print the podman environment to eval)
# Prints the image name (localhost/kube-proxy-ts:<package.json version>) on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."

cache=${KPX_IMAGE_CACHE:-/var/cache/kube-proxy-ts-image}
suite=trixie
version=$(node -p 'require("./package.json").version' 2>/dev/null || sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' package.json | head -1)
image=localhost/kube-proxy-ts:$version

die() { echo "image: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (mmdebstrap, podman and network namespaces need it)"
mkdir -p "$cache"

# podman's defaults do not work on these machines: crun cannot start containers here (RLIMIT errors,
# then "cgroups in hybrid mode not supported"), there is no systemd, and root's default rlimits exceed
# the hard limits. runc with rlimits below the hard limits works. Containers get no network unless
# they ask (the image test joins its own kpx- namespace; builds use the host's, see below).
nofile=$(ulimit -Hn)
if [ "$nofile" = unlimited ] || [ "$nofile" -gt 65536 ]; then nofile=65536; fi
cat >"$cache/containers.conf.tmp" <<EOF
# Written by scripts/image.sh for this project's podman runs (CONTAINERS_CONF).
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=4096:4096"]
netns = "none"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
mv "$cache/containers.conf.tmp" "$cache/containers.conf"
export CONTAINERS_CONF="$cache/containers.conf"
if [ "${1:-}" = --print-env ]; then echo "export CONTAINERS_CONF=$CONTAINERS_CONF"; exit 0; fi

need=()
for pair in mmdebstrap:mmdebstrap podman:podman runc:runc; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair##*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "image: installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# One base image per package list; its tag carries a hash of the list and the mmdebstrap options, so a
# changed list makes a new base. The tarball stays in the cache so a wiped podman storage re-imports
# it without the network.
mmopts=(--variant=essential
  --aptopt='APT::Install-Recommends "false"'
  # The machine's clock may be ahead of the archive's Valid-Until (the host's apt is set the same way).
  --aptopt='Acquire::Check-Valid-Until "false"'
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*'
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/info/*')

base() { # base NAME -> prints the local base image name (built or imported when missing)
  local name=$1 list="image/$1.packages" pkgs key ref tar
  pkgs=$(grep -v '^#' "$list" | xargs | tr ' ' ,)
  key=$(printf '%s\n' "$suite" "$pkgs" "${mmopts[@]}" | sha256sum | cut -c1-12)
  ref="localhost/kube-proxy-ts-base:$name-$suite-$key"
  tar="$cache/$name-$suite-$key.tar"
  if [ "${KPX_IMAGE_REFRESH:-}" = 1 ]; then rm -f "$tar"; podman rmi -f "$ref" >/dev/null 2>&1 || true; fi
  if podman image exists "$ref"; then echo "$ref"; return; fi
  if [ ! -s "$tar" ]; then
    echo "image: mmdebstrap $suite ($name: $pkgs) -> $tar" >&2
    rm -rf "$cache/$name-$suite-"*.tar "$cache/partial-$name.tar"
    # No mirror named: mmdebstrap uses Debian's default mirror plus $suite-updates and -security.
    # The output name must end in .tar: mmdebstrap picks the format from it.
    mmdebstrap --quiet "${mmopts[@]}" --include="$pkgs" "$suite" "$cache/partial-$name.tar" >&2 \
      || die "mmdebstrap failed: the image needs Debian's package mirrors (see the messages above)"
    mv "$cache/partial-$name.tar" "$tar"
  fi
  podman import --quiet "$tar" "$ref" >/dev/null
  echo "$ref"
}

t0=$(date +%s)
# Both bases at once: each mmdebstrap is mostly one dpkg process and downloads, so two overlap well.
base build >"$cache/.ref-build" & pb=$!
base runtime >"$cache/.ref-runtime" & pr=$!
wait "$pb" || die "the build base could not be made"
wait "$pr" || die "the runtime base could not be made"
build_base=$(cat "$cache/.ref-build")
runtime_base=$(cat "$cache/.ref-runtime")
t1=$(date +%s)

# The npm CA bundle (a TLS-intercepting proxy's CA on some machines) goes in as a build secret, never
# into a layer. --network host: the npm ci steps need the registry, and podman's default build network
# would add NAT rules to this machine's own namespace; the build steps themselves change no network state.
# --no-cache: buildah 1.28 reused `COPY --from` layers after the source stage changed.
ca=$(npm config get cafile 2>/dev/null || true)
{ [ -n "$ca" ] && [ "$ca" != null ] && [ "$ca" != undefined ] && [ -f "$ca" ]; } || ca=/etc/ssl/certs/ca-certificates.crt
secret=(); [ -f "$ca" ] && secret=(--secret "id=npm-ca,src=$ca")
podman build --quiet --no-cache --network host --runtime runc "${secret[@]}" \
  --build-arg "BUILD_BASE=$build_base" --build-arg "RUNTIME_BASE=$runtime_base" \
  -t "$image" -f Dockerfile . >/dev/null
# Drop the intermediate stages' dangling images (each --no-cache build leaves new ones).
podman image prune -f >/dev/null 2>&1 || true
t2=$(date +%s)
size=$(podman image inspect --format '{{.Size}}' "$image")
echo "image: built $image ($((size / 1000000)) MB; bases $((t1 - t0)) s, build $((t2 - t1)) s)" >&2
echo "$image"

#!/usr/bin/env bash
# `make image-test` (CI runs it after `make test`): builds the image (scripts/image.sh; base images
# cached), then runs test/image/run.ts against it: contents, --version and --print-rules against the
# host build, the DaemonSet's pod with the in-cluster configuration in a throwaway network namespace
# (traffic to a ClusterIP), --cleanup. Fails loudly when the image cannot be built (it needs Debian's
# package mirrors and the npm registry, which CI machines reach). Ends with `N passed, N failed`.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f dist/test/image/run.js ] || { echo "image-test: run \`make build\` first"; exit 1; }
start=$(date +%s)
if ! image=$(bash scripts/image.sh | tail -n 1) || [ -z "$image" ]; then
  echo "not ok - the image could not be built (see the messages above)"
  echo "0 passed, 1 failed"
  exit 1
fi
built=$(date +%s)
echo "image-test: $image ready in $((built - start)) s"
eval "$(bash scripts/image.sh --print-env)"
exec node dist/test/image/run.js "$image"

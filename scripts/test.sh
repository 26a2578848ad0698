#!/usr/bin/env bash
# The whole test suite: set-up, build, host tests (unit, integration, traffic in network
# namespaces), then the IPVS tests inside a guest kernel that has IPVS (../shared/ipvs-vm).
# Must run as root (network namespaces). Usage: scripts/test.sh [--no-ipvs]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run --silent build

# Host suites. Files run one at a time: the traffic suites build namespaces and start
# processes, and this machine kind has 2 cores.
mapfile -t files < <(find dist/test -name '*.test.js' -not -path 'dist/test/guest/*' | sort)
node --test --test-concurrency=1 --test-timeout=600000 "${files[@]}"

if [ "${1:-}" = "--no-ipvs" ] || [ "${KPX_SKIP_IPVS:-}" = 1 ]; then
  echo "IPVS tests skipped on request"; exit 0
fi
bash scripts/test-ipvs.sh

#!/usr/bin/env bash
# IPVS tests: this machine's kernel has no IPVS, so they run in a qemu guest booted from
# Debian's kernel (../shared/ipvs-vm). Missing runner or a guest that cannot start: a loud
# skip, not a failure (the project must not break where no guest can run).
set -euo pipefail
cd "$(dirname "$0")/.."
vm=${IPVS_VM_DIR:-../shared/ipvs-vm}
mapfile -t files < <(find dist/test/guest -name '*.test.js' 2>/dev/null | sort)
if [ ${#files[@]} -eq 0 ]; then echo "IPVS: no IPVS tests built"; exit 0; fi
if [ ! -x "$vm/run-in-vm" ]; then
  echo "############################################################"
  echo "## IPVS tests SKIPPED: $vm/run-in-vm not found"
  echo "############################################################"
  exit 0
fi
if ! bash "$vm/setup"; then
  echo "############################################################"
  echo "## IPVS tests SKIPPED: the IPVS guest could not be set up"
  echo "############################################################"
  exit 0
fi
set +e
"$vm/run-in-vm" --timeout 1500 -- node --test --test-concurrency=1 "${files[@]}"
rc=$?
set -e
if [ $rc -eq 125 ]; then
  echo "## IPVS tests SKIPPED: the guest failed to start (exit 125)"; exit 0
fi
exit $rc

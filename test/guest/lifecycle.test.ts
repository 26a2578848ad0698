// Lifecycle in IPVS mode, in the IPVS guest (test/lifecycle/ holds the host half and the shared
// bodies): switching away from ipvs under load (0 failed new connections, established connections
// kept through IPVS until they close), a SIGKILL restart in the middle of a sync under load, and
// --cleanup from IPVS leftovers alone, with other modes', and half cleaned.

import { describe, test } from 'node:test';
import { runCleanupCase, type CleanupCase } from '../lifecycle/cleanup-matrix.js';
import { SWITCH_TARGETS, runSwitch, useEchoTopology } from '../lifecycle/switch.js';
import { skipReason } from './topology.js';

// ~25 min in the emulated guest (each case starts the proxy at least once, 1-3 min here): more
// than the guest suite's budget (scripts/test-ipvs.sh, 1500 s), so only with KPX_HEAVY=1:
//   KPX_HEAVY=1 ../shared/ipvs-vm/run-in-vm --timeout 3000 -- node --test dist/test/guest/lifecycle.test.js
const reason = skipReason() ?? (process.env.KPX_HEAVY === '1' ? null : 'heavy (~25 min in the emulated guest): set KPX_HEAVY=1');
if (reason) console.log(`# IPVS lifecycle tests SKIPPED: ${reason}`);
// Emulated guest: every process start is 10-20x slower than on the host; one vCPU, so the client
// loop covers ClusterIP, NodePort and LoadBalancer over both families with three targets, not six.
const slow = {
  readyMs: 300_000,
  attemptTimeoutMs: 5000,
  pollMs: 1000,
  targets: SWITCH_TARGETS.filter((x) => ['ClusterIP v4', 'NodePort v6', 'LoadBalancer v4'].includes(x.label)),
};

describe('IPVS lifecycle', { skip: reason ?? false, concurrency: false }, () => {
  const topo = useEchoTopology();
  for (const to of ['nftables', 'iptables'] as const) {
    test(`ipvs -> ${to} under load: 0 failed new connections, established connections survive, IPVS state removed once they close`, { timeout: 900_000 }, async (t) => {
      await runSwitch(t, topo(), 'ipvs', to, slow);
    });
  }
  test('ipvs restart (SIGKILL at a random point of a sync) under load: 0 failed connections, the change is programmed', { timeout: 900_000 }, async (t) => {
    await runSwitch(t, topo(), 'ipvs', 'ipvs', { ...slow, signal: 'SIGKILL', stopDuringSyncMs: 3000 });
  });
  const cases: CleanupCase[] = [
    { name: 'ipvs', modes: ['ipvs'] },
    { name: 'ipvs + iptables + nftables, half cleaned', modes: ['ipvs', 'iptables', 'nftables'], halfDone: true },
  ];
  for (const c of cases) {
    test(`--cleanup from ${c.name}: twice exits 0, no virtual server, kube-ipvs0, ipset or chain of ours left`, { timeout: 900_000 }, (t) => runCleanupCase(t, topo(), c, slow.readyMs));
  }
});

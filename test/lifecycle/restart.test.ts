// Restart under load in every host mode (IPVS: test/guest/lifecycle.test.ts): the proxy is killed
// at a random point of a sync (a Services change was just written) or stopped with SIGTERM, and
// started again in the same mode while a client opens connections to ClusterIP, NodePort and
// LoadBalancer services of both families. 0 failed connections, held connections survive, the
// change is programmed by the new process. (test/reliability/restart.test.ts adds a comparison of
// the kernel with a fresh render for nftables and iptables-nft.)

import { describe, test } from 'node:test';
import { runSwitch, useEchoTopology } from './switch.js';
import type { RunMode } from './support.js';

const isRoot = process.getuid?.() === 0;
const CASES: { mode: RunMode; signal: 'SIGTERM' | 'SIGKILL' }[] = [
  { mode: 'iptables', signal: 'SIGKILL' },
  { mode: 'iptables-legacy', signal: 'SIGKILL' },
  { mode: 'iptables-legacy', signal: 'SIGTERM' },
  { mode: 'nftables', signal: 'SIGKILL' },
];

describe('restart under load', { skip: !isRoot && 'needs root', concurrency: false }, () => {
  const topo = useEchoTopology();
  for (const c of CASES) {
    test(`${c.mode}: ${c.signal} at a random point of a sync, restart: 0 failed connections, held connections survive, the change is programmed`, { timeout: 180_000 }, async (t) => {
      // A sync of this size takes 50-300 ms here: a random delay up to 400 ms lands before, in or after it.
      await runSwitch(t, topo(), c.mode, c.mode, { signal: c.signal, stopDuringSyncMs: 400 });
    });
  }
});

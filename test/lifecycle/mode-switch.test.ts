// Restarting with a different --proxy-mode under load, on the host (iptables <-> nftables, both
// iptables backends): 0 failed new connections to ClusterIP, NodePort and LoadBalancer services of
// both families, held connections survive, and the old mode's rules are gone afterwards.
// ipvs -> nftables / iptables runs in the IPVS guest: test/guest/lifecycle.test.ts.

import { describe, test } from 'node:test';
import { runSwitch, useEchoTopology } from './switch.js';
import type { RunMode } from './support.js';

const isRoot = process.getuid?.() === 0;
const CASES: [RunMode, RunMode][] = [
  ['iptables', 'nftables'],
  ['nftables', 'iptables'],
  ['iptables-legacy', 'nftables'],
  ['nftables', 'iptables-legacy'],
];

describe('mode switch under load', { skip: !isRoot && 'needs root', concurrency: false }, () => {
  const topo = useEchoTopology();
  for (const [from, to] of CASES) {
    test(`${from} -> ${to}: 0 failed new connections, held connections survive, ${from} rules removed after ${to} synced`, { timeout: 180_000 }, async (t) => {
      await runSwitch(t, topo(), from, to);
    });
  }
});

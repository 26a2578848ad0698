// --cleanup from the leftovers of each mode, each pair of modes and a half-finished cleanup
// (host: iptables on both backends, nftables, and IPVS mode's ipsets + iptables chains; the IPVS
// kernel state is covered in the guest by test/guest/lifecycle.test.ts).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Topology, leakedNamespaces } from '../support/topology.js';
import { matrix, runCleanupCase } from './cleanup-matrix.js';

const isRoot = process.getuid?.() === 0;

describe('--cleanup matrix', { skip: !isRoot && 'needs root', concurrency: false }, () => {
  let topo: Topology;
  before(async () => {
    topo = await Topology.create();
  });
  after(async () => {
    const prefix = topo?.prefix;
    await topo?.destroy();
    if (prefix) assert.deepEqual(leakedNamespaces(prefix), []);
  });
  for (const c of matrix(['iptables', 'iptables-legacy', 'nftables', 'ipvs'])) {
    test(`${c.name}: --cleanup twice exits 0, nothing of ours left, kubelet's chain kept`, { timeout: 120_000 }, (t) => runCleanupCase(t, topo, c));
  }
});

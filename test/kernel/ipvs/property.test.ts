// IPVS mode against the in-memory kernel (src/kernel/ipvs/fake.ts: ipvsadm, ipset, kube-ipvs0
// addresses, iptables), no root: any sequence of random ProxyStates applied as incremental syncs
// leaves the same kernel state (virtual and real servers, sets, addresses, iptables) as one full
// sync of the final state on a fresh kernel. Drained TCP real servers have no connections in the
// fake, so each sync's drain check removes them and the states are comparable.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createIpvsDataplane } from '../../../src/dataplane/ipvs/index.js';
import { FakeIpvsHost } from '../../../src/kernel/ipvs/fake.js';
import type { ProxyState } from '../../../src/model/types.js';
import { config } from '../../ipvs-plan/helpers.js';
import { NODE_IP, statesOf, stepsArb } from '../states.js';

const RUNS = Number(process.env.KPX_PROPERTY_RUNS ?? 150);

const newHost = (): FakeIpvsHost => new FakeIpvsHost({ eth0: [`${NODE_IP}/24`] });

async function applyAll(states: readonly ProxyState[], host = newHost(), scheduler = ''): Promise<FakeIpvsHost> {
  const dp = createIpvsDataplane(config({ ipvsScheduler: scheduler }), { run: host.run, sysctl: async () => undefined, drainCheckMs: 0, backend: 'nft' });
  for (const s of states) await dp.sync(s, { full: false });
  return host;
}

test('ipvs: incremental syncs of any state sequence == a full sync of the last state on a fresh kernel', async () => {
  const t0 = performance.now();
  let syncs = 0;
  await fc.assert(
    fc.asyncProperty(stepsArb, fc.constantFrom('', 'mh'), async (steps, scheduler) => {
      const states = statesOf(steps);
      syncs += states.length + 1;
      const incremental = await applyAll(states, newHost(), scheduler);
      const full = await applyAll([states.at(-1)!], newHost(), scheduler);
      assert.equal(incremental.dump(), full.dump());
    }),
    { numRuns: RUNS },
  );
  console.log(`ipvs property: ${RUNS} runs, ${syncs} syncs, ${Math.round(performance.now() - t0)} ms`);
});

test('ipvs: a new dataplane over an earlier run\'s kernel state converges to the fresh full sync', async () => {
  await fc.assert(
    fc.asyncProperty(stepsArb, stepsArb, async (before, after) => {
      const host = await applyAll(statesOf(before));
      const last = statesOf(after).at(-1)!;
      await applyAll([last], host);
      assert.equal(host.dump(), (await applyAll([last])).dump());
    }),
    { numRuns: Math.ceil(RUNS / 3) },
  );
});

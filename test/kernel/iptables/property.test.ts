// iptables mode against the in-memory iptables (src/kernel/iptables/fake.ts), no root: any
// sequence of random ProxyStates applied as partial syncs leaves the same ruleset as one full sync
// of the final state applied to a fresh fake - with and without nat batches (the nft backend's
// split restores), and when the sequence starts from another mode's leftovers.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createIptablesDataplane } from '../../../src/dataplane/iptables/index.js';
import { FakeIpvsHost } from '../../../src/kernel/ipvs/fake.js';
import { createLogger } from '../../../src/log/logger.js';
import type { ProxyState } from '../../../src/model/types.js';
import { config } from '../../iptables/helpers.js';
import { statesOf, stepsArb } from '../states.js';

const RUNS = Number(process.env.KPX_PROPERTY_RUNS ?? 150);
const log = createLogger('property');

async function applyAll(states: readonly ProxyState[], batchLines: number, host = new FakeIpvsHost()): Promise<FakeIpvsHost> {
  const dp = createIptablesDataplane(config({ detector: { mode: 'cidr', cidr: '198.18.128.0/17' } }), {
    run: host.run,
    backend: 'nft',
    conntrackTCPLiberal: false,
    batchLines,
    logger: log,
  });
  for (const s of states) await dp.sync(s, { full: false });
  return host;
}

test('iptables: partial syncs of any state sequence == a full sync of the last state on a fresh kernel', async () => {
  const t0 = performance.now();
  let syncs = 0;
  await fc.assert(
    fc.asyncProperty(stepsArb, fc.constantFrom(0, 7, 40), async (steps, batchLines) => {
      const states = statesOf(steps);
      syncs += states.length + 1;
      const incremental = await applyAll(states, batchLines);
      const full = await applyAll([states.at(-1)!], batchLines);
      assert.equal(incremental.ipt('IPv4').save(), full.ipt('IPv4').save());
    }),
    { numRuns: RUNS },
  );
  console.log(`iptables property: ${RUNS} runs, ${syncs} syncs, ${Math.round(performance.now() - t0)} ms`);
});

test('iptables: the fake holds what a partial sync wrote; a sync over stale chains of an earlier run deletes them', async () => {
  await fc.assert(
    fc.asyncProperty(stepsArb, stepsArb, async (before, after) => {
      // A previous process programmed `before`; a new dataplane (no memory) syncs `after` on the same kernel.
      const host = await applyAll(statesOf(before), 0);
      const last = statesOf(after).at(-1)!;
      await applyAll([last], 0, host);
      const fresh = await applyAll([last], 0);
      assert.equal(host.ipt('IPv4').save(), fresh.ipt('IPv4').save());
    }),
    { numRuns: Math.ceil(RUNS / 3) },
  );
});

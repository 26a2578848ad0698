// The test-only dry dataplane (KPX_TEST_DRY_DATAPLANE=1, src/dataplane/dry.ts) used by the fleet
// measurement: it plans and renders like the nftables dataplane, starts no process, and is refused for
// the other modes.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dryDataplaneFactory } from '../../src/dataplane/dry.js';
import { DRY_DATAPLANE_ENV, dryDataplaneRequested } from '../../src/dataplane/registry.js';
import { dataplaneConfig, endpoint, proxyState, servicePort, withServices } from '../support/state.js';

test('dry dataplane: full then incremental syncs are planned (operations counted), no drift, cleanup succeeds', async () => {
  const dp = dryDataplaneFactory('nftables')(dataplaneConfig());
  const a = servicePort('ns', 'a', { clusterIP: '198.19.0.1', endpoints: [endpoint('198.18.100.1')] });
  const s0 = proxyState([a]);
  const first = await dp.sync(s0, { full: false });
  assert.equal(first.full, true, 'nothing applied yet: the first sync is full');
  assert.ok(first.operations > 0);
  assert.equal(first.toolMillis, 0);
  const b = servicePort('ns', 'a', { clusterIP: '198.19.0.1', endpoints: [endpoint('198.18.100.1'), endpoint('198.18.100.2')] });
  const next = await dp.sync(withServices(s0, [b]), { full: false });
  assert.equal(next.full, false, 'an endpoint change is incremental, as in the real dataplane');
  assert.ok(next.operations > 0);
  assert.equal(await dp.detectDrift(), false);
  await dp.cleanup();
  await dp.close?.();
  assert.match(dp.render(s0), /198\.19\.0\.1/);
});

test('dry dataplane: nftables only; requested by exactly KPX_TEST_DRY_DATAPLANE=1', () => {
  assert.throws(() => dryDataplaneFactory('iptables'), /nftables only/);
  assert.throws(() => dryDataplaneFactory('ipvs'), /nftables only/);
  assert.equal(dryDataplaneRequested({ [DRY_DATAPLANE_ENV]: '1' }), true);
  assert.equal(dryDataplaneRequested({ [DRY_DATAPLANE_ENV]: 'true' }), false);
  assert.equal(dryDataplaneRequested({}), false);
});

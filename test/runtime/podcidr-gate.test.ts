// detect-local-mode NodeCIDR: no programming before the node's podCIDRs are known, fatal after the
// timeout, fatal when they change (upstream waitForPodCIDR / NodeManager).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCommandLine } from '../../src/config/options.js';
import type { Dataplane, SyncOptions } from '../../src/dataplane/types.js';
import { ProxyHealth } from '../../src/health/proxy-health.js';
import { configureLogging } from '../../src/log/logger.js';
import { ServiceModel } from '../../src/model/tracker.js';
import type { ProxyState } from '../../src/model/types.js';
import type { DataplaneConfig } from '../../src/dataplane/config.js';
import { PodCIDRGate, readyPodCIDRs } from '../../src/proxy/podcidr-gate.js';
import { Proxier } from '../../src/proxy/proxier.js';
import { eventually, nodeObject, serviceObject, sliceObject } from './fixtures.js';

configureLogging({ sink: () => undefined });

function node(podCIDRs: string[] | null, deleting = false): Record<string, unknown> {
  const n = nodeObject('node-a', ['198.18.0.1'], { deleting });
  if (podCIDRs) n.spec = { podCIDR: podCIDRs[0], podCIDRs };
  return n;
}

test('readyPodCIDRs: needs spec.podCIDR and podCIDRs, and a node not being deleted', () => {
  assert.equal(readyPodCIDRs(node(null)), null);
  assert.deepEqual(readyPodCIDRs(node(['198.18.100.0/24'])), ['198.18.100.0/24']);
  assert.equal(readyPodCIDRs(node(['198.18.100.0/24'], true)), null);
});

test('no podCIDR within the timeout is fatal', async () => {
  const errors: Error[] = [];
  const gate = new PodCIDRGate({ nodeName: 'node-a', timeoutMs: 50, onFatal: (e) => errors.push(e), onReady: () => undefined });
  gate.start();
  gate.onNode('ADDED', node(null));
  await eventually(async () => errors.length > 0, 'timeout');
  assert.match(errors[0]!.message, /^timeout waiting for PodCIDR allocation to configure detect-local-mode NodeCIDR: node "node-a" does not have any PodCIDR allocated$/);
});

test('the proxier programs nothing until the podCIDR is known, uses it as local detector, and a change is fatal', async () => {
  const r = await parseCommandLine(['--proxy-mode=nftables', '--hostname-override=node-a', '--detect-local-mode=NodeCIDR']);
  if (r.kind !== 'run') throw new Error('unreachable');
  const o = { ...r.options, syncPeriodMs: 300, minSyncPeriodMs: 0 };
  const synced: { cfg: DataplaneConfig; state: ProxyState }[] = [];
  const errors: Error[] = [];
  const gate = new PodCIDRGate({ nodeName: 'node-a', onFatal: (e) => errors.push(e), onReady: () => undefined });
  const fake = (cfg: DataplaneConfig): Dataplane => ({
    mode: 'nftables',
    family: cfg.family,
    sync: async (state: ProxyState, opts: SyncOptions) => {
      synced.push({ cfg, state });
      return { full: opts.full, operations: 1, toolMillis: 0 };
    },
    detectDrift: async () => false,
    render: () => '',
    cleanup: async () => undefined,
  });
  const proxier = new Proxier({
    options: o,
    model: new ServiceModel({ nodeName: 'node-a' }),
    factory: fake,
    health: new ProxyHealth(600),
    families: ['IPv4'],
    localAddresses: async () => [],
    conntrackCleanup: async () => undefined,
    podCIDRGate: gate,
  });
  gate.start();
  proxier.start();
  try {
    proxier.onEvent('Service', 'ADDED', serviceObject({ name: 'web', clusterIP: '198.19.0.10', port: 80 }));
    proxier.onEvent('EndpointSlice', 'ADDED', sliceObject('web', 8080, [{ ip: '198.18.100.2' }]));
    proxier.onSynced('Service');
    proxier.onSynced('EndpointSlice');
    proxier.onEvent('Node', 'ADDED', node(null));
    await new Promise((res) => setTimeout(res, 400));
    assert.equal(synced.length, 0, 'not initialized without a podCIDR');
    assert.equal(proxier.initialized, false);
    proxier.onEvent('Node', 'MODIFIED', node(['198.18.100.0/24']));
    await eventually(async () => synced.length > 0, 'first sync');
    assert.deepEqual(synced[0]!.cfg.localDetector, { mode: 'cidr', cidr: '198.18.100.0/24' });
    assert.equal(errors.length, 0);
    proxier.onEvent('Node', 'MODIFIED', node(['198.18.100.0/24'])); // unchanged: fine
    assert.equal(errors.length, 0);
    proxier.onEvent('Node', 'MODIFIED', node(['198.18.101.0/24']));
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.message, 'PodCIDRs changed for the node');
  } finally {
    gate.stop();
    await proxier.stop();
  }
});

// Fault: a silent watch. Every watch connection the proxy holds stays open but delivers nothing more —
// no events, no bookmarks, not even the server's close at the watch timeout (a half-dead load balancer
// in front of the API server). Writes keep going to the server's store meanwhile. The proxy's idle
// detector (no event or bookmark within the bound) must abandon each such watch, resume it from the
// last resourceVersion on a new connection, and converge with 0 lost updates.
//
// The test server bookmarks every second; the bound is shortened to 4 s with the test-only
// KPX_TEST_WATCH_IDLE_TIMEOUT_MS (production: 3 min against kube-apiserver's ~1 min bookmarks).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NsApiServer } from './support/apiserver.js';
import { Churn } from './support/churn.js';
import { converge } from './support/converge.js';
import { nodeObject } from '../runtime/fixtures.js';
import { eventually, sleep, startProxyIn } from './support/proxy.js';
import { NODE_IP, World } from './support/world.js';

const isRoot = process.getuid?.() === 0;
const IDLE_MS = 4000;
const WATCHED = ['/api/v1/services', '/apis/discovery.k8s.io/v1/endpointslices', '/api/v1/nodes', '/apis/networking.k8s.io/v1/servicecidrs'];

test('silent watch (connections open, nothing delivered): detected, resumed from the last resourceVersion, 0 lost updates', { skip: !isRoot && 'needs root', timeout: 240_000 }, async (t) => {
  const world = await World.create();
  try {
    const srv = await NsApiServer.start(world);
    const churn = new Churn(7, { maxServices: 150, endpointsPerService: 6 });
    await srv.apply([{ t: 'create', obj: nodeObject('node-a', [NODE_IP]) }, ...churn.pin(1), ...churn.seed(60)]);
    const proxy = startProxyIn(world, ['--kubeconfig', srv.kubeconfigPath, '--proxy-mode', 'nftables', '--hostname-override', 'node-a', '--v=2'], {
      KPX_TEST_WATCH_IDLE_TIMEOUT_MS: String(IDLE_MS),
    });
    await converge(world, churn, 'initial sync');
    await eventually(async () => (await srv.call<number>('activeWatches')) === WATCHED.length, 'four watches open', 30_000, 200);

    const silencedAt = Date.now();
    const silenced = await srv.silenceWatches();
    assert.equal(silenced, WATCHED.length, 'every watch the proxy held went silent');
    // Writes during the silence: none of them can reach the proxy before it notices.
    let writes = 0;
    const writesUntil = silencedAt + IDLE_MS - 1000;
    while (Date.now() < writesUntil) {
      const ops = [];
      for (let j = 0; j < 10; j++) ops.push(...churn.step());
      const r = await srv.apply(ops);
      assert.equal(r.failed, 0, r.errors.join('; '));
      writes += r.done;
      await sleep(20);
    }

    // Detection: the first new watch request of each resource after the silence began.
    const resumed = await eventually(async () => {
      const reqs = await srv.requests();
      const firsts = WATCHED.map((p) => reqs.find((r) => r.path === p && r.query.watch && r.at > silencedAt));
      return firsts.every((r) => r !== undefined) ? firsts.map((r) => r!) : undefined;
    }, 'every watch re-established after the silence', 120_000, 250);
    const detectMs = resumed.map((r) => r.at - silencedAt);
    // As client-go: every watch asks for bookmarks and a random 5-10 minute server-side timeout.
    const watchReqs = (await srv.requests()).filter((r) => WATCHED.includes(r.path) && r.query.watch);
    const timeouts = watchReqs.map((r) => Number(r.query.timeoutSeconds));
    assert.ok(watchReqs.every((r) => r.query.allowWatchBookmarks === 'true' && r.query.resourceVersion), 'bookmarks allowed, resumed from a resourceVersion');
    assert.ok(timeouts.every((s) => s >= 300 && s < 600), `timeoutSeconds in [300, 600): ${timeouts.join(' ')}`);
    // Resumed from a resourceVersion (no relist): the store was not refetched.
    const relists = (await srv.requests()).filter((r) => r.at > silencedAt && !r.query.watch && r.method === 'GET' && WATCHED.includes(r.path)).length;
    const { ms } = await converge(world, churn, 'after the silent watch');
    const out = proxy.output();
    const detections = (out.match(/inactive for 4000 ms/g) ?? []).length;
    t.diagnostic(`silenced watches: ${silenced}; object writes during the silence: ${writes} (churn totals incl. the seed: ${JSON.stringify(churn.counts)})`);
    t.diagnostic(`idle bound ${IDLE_MS} ms; watch re-established after ${detectMs.map((m) => `${(m / 1000).toFixed(1)} s`).join(', ')} (services, slices, node, servicecidrs)`);
    t.diagnostic(`watch requests: ${watchReqs.length}, timeoutSeconds ${Math.min(...timeouts)}-${Math.max(...timeouts)}, allowWatchBookmarks=true`);
    t.diagnostic(`idle detections logged: ${detections}; relists: ${relists}; converged ${ms} ms after the last watch was re-established; lost updates: 0`);
    assert.ok(detections >= WATCHED.length, `each silent watch was detected as idle (${detections})`);
    assert.ok(detectMs.every((m) => m >= IDLE_MS - 500), `no watch was re-established before the idle bound: ${detectMs.join(' ')}`);
    assert.equal(relists, 0, 'the watches resumed from the last resourceVersion, without a relist');
    const r = await proxy.stop();
    assert.equal(r.code, 0, proxy.output().slice(-3000));
  } finally {
    await world.destroy();
  }
});

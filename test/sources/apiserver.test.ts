// The API server Source: kubeconfig/master handling as upstream's BuildConfigFromFlags, four kinds with
// their selectors, and client rate limiting that does not charge LIST continuation pages.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { configureLogging } from '../../src/log/logger.js';
import { createApiServerSource, loadKubeConfig } from '../../src/sources/apiserver.js';
import { RateLimiter } from '../../src/sources/transport.js';
import { startTestApiServer, type TestApiServer } from '../../tools/test-apiserver/server.js';
import { RecordingHandler, waitFor } from './helpers.js';

configureLogging({ sink: () => undefined });

async function withServer(fn: (srv: TestApiServer, dir: string) => Promise<void>, opts: Parameters<typeof startTestApiServer>[0] = {}): Promise<void> {
  const srv = await startTestApiServer(opts);
  const dir = await mkdtemp(path.join(tmpdir(), 'kpx-src-'));
  try {
    await fn(srv, dir);
  } finally {
    await srv.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

function populate(srv: TestApiServer, n: number): void {
  for (let i = 0; i < n; i++) {
    srv.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: `s${i}`, namespace: 'default' }, spec: { ports: [{ port: 80 }] } });
    srv.create({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `s${i}-x`, namespace: 'default', labels: { 'kubernetes.io/service-name': `s${i}` } },
      addressType: 'IPv4',
      endpoints: [],
    });
  }
  srv.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a' } });
  srv.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-b' } });
}

test('four kinds synced with upstream selectors; only our Node; ServiceCIDRs (networking.k8s.io/v1)', async () => {
  await withServer(async (srv) => {
    populate(srv, 3);
    srv.create({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'other', namespace: 'default', labels: { 'service.kubernetes.io/service-proxy-name': 'x' } },
      addressType: 'IPv4',
      endpoints: [],
    });
    srv.create({ apiVersion: 'networking.k8s.io/v1', kind: 'ServiceCIDR', metadata: { name: 'kubernetes' }, spec: { cidrs: ['198.19.0.0/16'] } });
    const h = new RecordingHandler();
    const src = createApiServerSource({ kubeconfig: srv.kubeconfigPath, master: '', nodeName: 'node-a' });
    await src.start(h);
    try {
      await waitFor(() => h.synced.size === 4, 'all synced');
      assert.deepEqual(h.keys('ServiceCIDR'), ['kubernetes']);
      assert.deepEqual(h.keys('Service'), ['default/s0', 'default/s1', 'default/s2']);
      assert.deepEqual(h.keys('EndpointSlice'), ['default/s0-x', 'default/s1-x', 'default/s2-x']);
      assert.deepEqual(h.keys('Node'), ['node-a']);
    } finally {
      await src.stop();
    }
    await waitFor(() => srv.activeWatches() === 0, 'stop closes all watches', 2000);
  });
});

test('--master overrides the kubeconfig server; --master alone works; plain http needs no insecure flag', async () => {
  await withServer(async (srv, dir) => {
    populate(srv, 1);
    const kc = JSON.parse(await readFile(srv.kubeconfigPath, 'utf8')) as { clusters: { cluster: Record<string, unknown> }[] };
    kc.clusters[0]!.cluster = { server: 'http://127.0.0.1:1' }; // wrong server, and no insecure-skip-tls-verify
    const bad = path.join(dir, 'bad-kubeconfig');
    await writeFile(bad, JSON.stringify(kc));
    assert.equal(loadKubeConfig(bad, srv.url).server, srv.url);
    for (const opts of [
      { kubeconfig: bad, master: srv.url },
      { kubeconfig: '', master: srv.url },
    ]) {
      const h = new RecordingHandler();
      const src = createApiServerSource({ ...opts, nodeName: 'node-a' });
      await src.start(h);
      try {
        await waitFor(() => h.synced.size === 4, `synced via ${JSON.stringify(opts)}`);
        assert.deepEqual(h.keys('Service'), ['default/s0']);
      } finally {
        await src.stop();
      }
    }
  });
});

test('no kubeconfig, no master, not in a cluster: a clear error', async () => {
  const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
  delete process.env.KUBERNETES_SERVICE_HOST;
  delete process.env.KUBERNETES_SERVICE_PORT;
  try {
    const src = createApiServerSource({ kubeconfig: '', master: '', nodeName: 'n' });
    await assert.rejects(src.start(new RecordingHandler()), /not running in a cluster/);
  } finally {
    if (saved.host !== undefined) process.env.KUBERNETES_SERVICE_HOST = saved.host;
    if (saved.port !== undefined) process.env.KUBERNETES_SERVICE_PORT = saved.port;
  }
});

test('rate limiter: bursts then paces; LIST continuation pages are not charged', async () => {
  const rl = new RateLimiter(10, 2);
  const t0 = Date.now();
  for (let i = 0; i < 5; i++) await rl.take();
  const took = Date.now() - t0;
  // Lower bound is the pacing; the upper one only has to tell pacing from a stall (loaded CI machines).
  assert.ok(took >= 250 && took < 2500, `5 takes at 10 qps burst 2 took ${took} ms`);

  await withServer(async (srv) => {
    populate(srv, 1000); // 10 pages of 100 per kind (no watch cache: resourceVersion=0 is paged too)
    const h = new RecordingHandler();
    const src = createApiServerSource({ kubeconfig: srv.kubeconfigPath, master: '', nodeName: 'node-a', qps: 1, burst: 3, pageSize: 100 });
    const start = Date.now();
    await src.start(h);
    try {
      await waitFor(() => h.synced.size === 4, 'synced', 30_000);
      // 3 first pages use the burst, the 4th waits ~1 s; 18 continuation pages are free. Charging them at
      // 1 qps would take >= 19 s, so 12 s tells the two apart with room for a loaded machine (seen: 4 s).
      assert.ok(Date.now() - start < 12_000, `initial sync took ${Date.now() - start} ms`);
      assert.equal(h.view.Service.size, 1000);
      assert.equal(srv.requests.filter((q) => q.query.continue).length, 18);
    } finally {
      await src.stop();
    }
  }, { watchCache: false }); // a server that pages (with a watch cache the first lists are one response each)
});

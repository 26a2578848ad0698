// The reflector against the test API server: list pagination, watch events, bookmarks, 410 relists,
// restarts, 5xx, stalls. Every test ends by comparing the consumer's view with the server's state.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configureLogging } from '../../src/log/logger.js';
import { loadKubeConfig } from '../../src/sources/apiserver.js';
import { selectorsFor } from '../../src/sources/objects.js';
import { Reflector, type ReflectorOptions } from '../../src/sources/reflector.js';
import { kubeConfigTransport } from '../../src/sources/transport.js';
import type { ObjectKind } from '../../src/sources/types.js';
import { startTestApiServer, type TestApiServer } from '../../tools/test-apiserver/server.js';
import { RecordingHandler, sleep, waitFor } from './helpers.js';

const logs: string[] = [];
configureLogging({ sink: (l) => logs.push(l), verbosity: 4 });

function svc(name: string, extra: Record<string, unknown> = {}, labels: Record<string, string> = {}): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default', labels }, spec: { ports: [{ port: 80 }], ...extra } };
}

const FAST = { initialMs: 100, maxMs: 1000, factor: 2, jitter: 0, resetAfterMs: 60_000 };

function reflector(srv: TestApiServer, h: RecordingHandler, kind: ObjectKind = 'Service', extra: Partial<ReflectorOptions> = {}): Reflector {
  const transport = kubeConfigTransport(loadKubeConfig(srv.kubeconfigPath, ''));
  return new Reflector({ kind, transport, handler: h, ...selectorsFor(kind, 'node-a'), watchBackoff: FAST, relistBackoff: FAST, ...extra });
}

/** The consumer's view equals the server's state for `kind` under the proxy selectors, objects included. */
function assertSameState(srv: TestApiServer, h: RecordingHandler, kind: ObjectKind = 'Service'): void {
  const visible = srv.list(kind).filter((o) => {
    const m = o.metadata as { labels?: Record<string, string>; name: string };
    if (kind === 'Node') return m.name === 'node-a';
    const l = m.labels ?? {};
    if ('service.kubernetes.io/service-proxy-name' in l || 'service.kubernetes.io/headless' in l) return false;
    return kind !== 'Service' || (o.spec as { clusterIP?: string }).clusterIP !== 'None';
  });
  const key = (o: Record<string, unknown>): string => {
    const m = o.metadata as { namespace?: string; name: string };
    return m.namespace ? `${m.namespace}/${m.name}` : m.name;
  };
  assert.deepEqual(h.keys(kind), visible.map(key).sort());
  for (const o of visible) {
    const mine = h.view[kind].get(key(o)) as { metadata: { resourceVersion: string } };
    assert.equal(mine.metadata.resourceVersion, (o.metadata as { resourceVersion: string }).resourceVersion, `rv of ${key(o)}`);
    assert.deepEqual((mine as Record<string, unknown>).spec, o.spec);
  }
  assert.deepEqual(h.violations, []);
}

async function withServer(fn: (srv: TestApiServer) => Promise<void>, opts: Parameters<typeof startTestApiServer>[0] = {}): Promise<void> {
  const srv = await startTestApiServer(opts);
  try {
    await fn(srv);
  } finally {
    await srv.stop();
  }
}

test('initial paginated list (a server without watch cache): all pages, selectors applied server-side, synced after the last ADDED', async () => {
  await withServer(async (srv) => {
    for (let i = 0; i < 1234; i++) srv.create(svc(`s${String(i).padStart(4, '0')}`));
    srv.create(svc('headless', { clusterIP: 'None' }));
    srv.create(svc('other-proxy', {}, { 'service.kubernetes.io/service-proxy-name': 'x' }));
    srv.create(svc('headless-label', {}, { 'service.kubernetes.io/headless': '' }));
    const h = new RecordingHandler();
    const r = reflector(srv, h, 'Service', { pageSize: 100 });
    r.start();
    try {
      await waitFor(() => h.synced.has('Service'), 'synced');
      assert.equal(r.stats.listPages, 13);
      const lists = srv.requests.filter((q) => q.path === '/api/v1/services' && !q.query.watch);
      assert.equal(lists.length, 13);
      assert.equal(lists[0]!.query.limit, '100');
      assert.ok(!lists[0]!.query.continue && lists[1]!.query.continue, 'continue token used from the second page');
      const addedBeforeSync = h.events.findIndex((e) => e.type === 'SYNCED');
      assert.equal(addedBeforeSync, 1234, 'all ADDED events precede onSynced');
      assert.equal(h.view.Service.size, 1234);
      assertSameState(srv, h);
      // List items carry no kind; the reflector fills it so list and watch objects look alike.
      assert.equal((h.view.Service.get('default/s0000') as { kind: string }).kind, 'Service');
      // client-go's first list asks for resourceVersion=0; continuation pages carry no resourceVersion.
      assert.equal(lists[0]!.query.resourceVersion, '0');
      assert.ok(lists.slice(1).every((q) => q.query.resourceVersion === undefined));
    } finally {
      await r.stop();
    }
  }, { watchCache: false });
});

test('with a watch cache the first list is one response (resourceVersion=0, limit ignored); a relist after 410 is a paginated consistent read', async () => {
  await withServer(async (srv) => {
    for (let i = 0; i < 1234; i++) srv.create(svc(`s${String(i).padStart(4, '0')}`));
    const h = new RecordingHandler();
    const r = reflector(srv, h, 'Service', { pageSize: 500 });
    r.start();
    try {
      await waitFor(() => h.synced.has('Service') && srv.activeWatches() === 1, 'watching');
      const lists = (): typeof srv.requests => srv.requests.filter((q) => q.path === '/api/v1/services' && !q.query.watch);
      assert.equal(lists().length, 1);
      assert.deepEqual([lists()[0]!.query.resourceVersion, lists()[0]!.query.limit], ['0', '500']);
      assert.equal(h.view.Service.size, 1234);
      // The watch's rv is compacted away: the relist must not ask the cache for it (nor for "0", which may
      // be older than what we have seen) but read the latest state, page by page as client-go's pager.
      srv.delete('Service', 'default', 's0000');
      srv.compact();
      srv.dropWatches();
      await waitFor(() => r.stats.lists === 2 && srv.activeWatches() === 1, 'relisted');
      const relist = lists().slice(1);
      assert.equal(relist.length, 3);
      assert.equal(relist[0]!.query.resourceVersion, undefined);
      assert.equal(relist[0]!.query.limit, '500');
      assert.ok(relist[1]!.query.continue && relist[2]!.query.continue);
      assert.equal(h.view.Service.size, 1233);
      assertSameState(srv, h);
    } finally {
      await r.stop();
    }
  });
});

test('watch: add, modify, delete, and selector transitions become ADDED/DELETED', async () => {
  await withServer(async (srv) => {
    srv.create(svc('a'));
    const h = new RecordingHandler();
    const r = reflector(srv, h);
    r.start();
    try {
      await waitFor(() => h.synced.has('Service') && srv.activeWatches() === 1, 'watching');
      h.clear();
      srv.create(svc('b'));
      const a = srv.get('Service', 'default', 'a')!;
      srv.update({ ...a, spec: { ...(a.spec as object), ports: [{ port: 81 }] } });
      srv.delete('Service', 'default', 'b');
      srv.create(svc('c', { clusterIP: 'None' })); // headless: invisible
      const a2 = srv.get('Service', 'default', 'a')!;
      // Labelled for another proxy: it leaves our selector, so we see DELETED; unlabelled: ADDED again.
      srv.update({ ...a2, metadata: { ...(a2.metadata as object), labels: { 'service.kubernetes.io/service-proxy-name': 'other' } } });
      const a3 = srv.get('Service', 'default', 'a')!;
      srv.update({ ...a3, metadata: { ...(a3.metadata as object), labels: {} } });
      await waitFor(() => h.events.length >= 5, '5 events');
      await sleep(100);
      assert.deepEqual(
        h.events.map((e) => `${e.type} ${e.key}`),
        ['ADDED default/b', 'MODIFIED default/a', 'DELETED default/b', 'DELETED default/a', 'ADDED default/a'],
      );
      assert.equal(r.resourceVersion, String(srv.resourceVersion()));
      assertSameState(srv, h);
    } finally {
      await r.stop();
    }
  });
});

test('watch requests ask for bookmarks with a 300-600 s timeout; BOOKMARK moves the resourceVersion', async () => {
  await withServer(
    async (srv) => {
      const h = new RecordingHandler();
      const r = reflector(srv, h);
      r.start();
      try {
        await waitFor(() => srv.activeWatches() === 1, 'watching');
        const w = srv.requests.find((q) => q.query.watch === '1')!;
        assert.equal(w.query.allowWatchBookmarks, 'true');
        const t = Number(w.query.timeoutSeconds);
        assert.ok(t >= 300 && t < 600, `timeoutSeconds ${t}`);
        const before = r.resourceVersion;
        // Writes to another kind move the global resourceVersion without any Service event.
        srv.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'x' } });
        srv.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'y' } });
        await sleep(100);
        assert.equal(r.resourceVersion, before, 'no event, no rv change');
        srv.sendBookmarks();
        await waitFor(() => r.resourceVersion === String(srv.resourceVersion()), 'bookmark rv');
        assert.equal(r.stats.bookmarks, 1);
        assert.equal(h.events.filter((e) => e.type !== 'SYNCED').length, 0, 'bookmarks are not events');
        // A reconnect now resumes from the bookmark's rv.
        srv.dropWatches();
        await waitFor(() => srv.requests.filter((q) => q.query.watch === '1').length === 2, 'rewatch');
        const w2 = srv.requests.filter((q) => q.query.watch === '1')[1]!;
        assert.equal(w2.query.resourceVersion, String(srv.resourceVersion()));
      } finally {
        await r.stop();
      }
    },
    { bookmarkIntervalMs: 3_600_000 },
  );
});

for (const mode of ['event', 'http'] as const) {
  test(`410 Expired (${mode}) → relist after backoff; deletes made while disconnected are seen`, async () => {
    await withServer(async (srv) => {
      srv.setWatchExpiredMode(mode);
      for (const n of ['a', 'b', 'c', 'd']) srv.create(svc(n));
      const h = new RecordingHandler();
      const r = reflector(srv, h);
      r.start();
      try {
        await waitFor(() => srv.activeWatches() === 1, 'watching');
        // While the server is down: delete, modify, add; then history is compacted away.
        await srv.restart({ downMs: 0 }); // ensure the restart path itself is fine
        await waitFor(() => srv.activeWatches() === 1, 'rewatch after restart');
        await srv.stop().catch(() => undefined);
        const restartAt = Date.now();
        srv.delete('Service', 'default', 'a');
        srv.delete('Service', 'default', 'b');
        const c = srv.get('Service', 'default', 'c')!;
        srv.update({ ...c, spec: { ...(c.spec as object), ports: [{ port: 9 }] } });
        srv.create(svc('e'));
        srv.compact();
        h.clear();
        await srv.restart();
        await waitFor(() => r.stats.lists === 2, 'relist', 10_000);
        await waitFor(() => h.view.Service.has('default/e'), 'e seen');
        assert.ok(r.stats.expired >= 1, 'expired counted');
        const relist = srv.requests.filter((q) => q.path === '/api/v1/services' && !q.query.watch).at(-1)!;
        const expiredWatch = srv.requests.filter((q) => q.query.watch === '1' && q.at >= restartAt).find((q) => q.status === (mode === 'http' ? 410 : 200))!;
        assert.ok(relist.at - expiredWatch.at >= FAST.initialMs - 5, `relist waited ${relist.at - expiredWatch.at} ms`);
        assert.deepEqual(h.events.map((e) => `${e.type} ${e.key}`).sort(), ['ADDED default/e', 'DELETED default/a', 'DELETED default/b', 'MODIFIED default/c']);
        assertSameState(srv, h);
        // And the watch continues after the relist.
        srv.create(svc('f'));
        await waitFor(() => h.view.Service.has('default/f'), 'f after relist');
        assertSameState(srv, h);
      } finally {
        await r.stop();
      }
    });
  });
}

test('server restart: watch resumes from the last rv with growing backoff, no relist, nothing missed', async () => {
  await withServer(async (srv) => {
    srv.create(svc('a'));
    const h = new RecordingHandler();
    const r = reflector(srv, h);
    r.start();
    try {
      await waitFor(() => srv.activeWatches() === 1, 'watching');
      const downAt = Date.now();
      const restarted = srv.restart({ downMs: 1300 });
      // Changes while down are replayed from the watch history (not compacted).
      srv.create(svc('b'));
      srv.delete('Service', 'default', 'a');
      await restarted;
      await waitFor(() => h.view.Service.has('default/b') && !h.view.Service.has('default/a'), 'changes after restart', 10_000);
      assert.equal(r.stats.lists, 1, 'no relist needed');
      // Failed attempts while down (connection refused): 100, 200, 400, 800 ms backoff → about 4 attempts in 1.3 s.
      assert.ok(r.stats.watchErrors >= 3 && r.stats.watchErrors <= 6, `watch errors ${r.stats.watchErrors}`);
      const warn = logs.filter((l) => l.includes('Watch failed') && l.includes('backoffMs'));
      const delays = warn.slice(-r.stats.watchErrors).map((l) => Number(/backoffMs=(\d+)/.exec(l)![1]));
      for (let i = 1; i < delays.length; i++) assert.ok(delays[i]! >= delays[i - 1]!, `backoff grows: ${delays.join(',')}`);
      assert.ok(Date.now() - downAt >= 1300);
      assertSameState(srv, h);
    } finally {
      await r.stop();
    }
  });
});

test('HTTP 500s: LIST and WATCH are retried, the view converges', async () => {
  await withServer(async (srv) => {
    srv.create(svc('a'));
    srv.failNext(2);
    const h = new RecordingHandler();
    const r = reflector(srv, h);
    r.start();
    try {
      await waitFor(() => h.synced.has('Service'), 'synced despite 500s', 10_000);
      assert.equal(srv.requests.filter((q) => q.status === 500).length, 2);
      await waitFor(() => srv.activeWatches() === 1, 'watching');
      assert.equal(r.stats.lists, 3, 'two failed LIST attempts, then one good');
      srv.failNext(3);
      srv.dropWatches();
      srv.create(svc('b'));
      await waitFor(() => h.view.Service.has('default/b'), 'b after 500s', 10_000);
      assert.equal(srv.requests.filter((q) => q.status === 500).length, 5);
      assert.ok(r.stats.watchErrors >= 4, `watch errors ${r.stats.watchErrors}`);
      assert.equal(r.stats.lists, 3, 'a 500 on watch resumes the watch, it does not relist');
      assertSameState(srv, h);
    } finally {
      await r.stop();
    }
  });
});

test('inactivity watchdog: a silent watch is abandoned and reopened', async () => {
  await withServer(
    async (srv) => {
      const h = new RecordingHandler();
      const r = reflector(srv, h, 'Service', { inactivityTimeoutMs: 300 });
      r.start();
      try {
        await waitFor(() => srv.activeWatches() === 1, 'watching');
        await sleep(700);
        assert.equal(r.stats.watches, 1, 'bookmarks every 100 ms keep the watch alive');
        srv.stallWatches(true);
        await waitFor(() => r.stats.watches >= 2, 'watchdog reconnect', 5000);
        assert.ok(logs.some((l) => l.includes('inactive for 300 ms')));
        srv.stallWatches(false);
        srv.create(svc('z'));
        await waitFor(() => h.view.Service.has('default/z'), 'z after stall');
        assertSameState(srv, h);
      } finally {
        await r.stop();
      }
    },
    { bookmarkIntervalMs: 100 },
  );
});

test('a server that ends every watch at once does not cause a hot loop', async () => {
  await withServer(async (srv) => {
    const h = new RecordingHandler();
    const r = reflector(srv, h, 'Service', { watchTimeoutSeconds: () => 0 });
    r.start();
    try {
      await sleep(1500);
      const watches = srv.requests.filter((q) => q.query.watch === '1').length;
      // Backoff 100, 200, 400, 800 ms: at most about 5 watch requests in 1.5 s (a hot loop would make thousands).
      assert.ok(watches >= 2 && watches <= 6, `watch requests ${watches}`);
    } finally {
      await r.stop();
    }
  });
});

test('Node reflector sees only this node; stop() ends the watch promptly', async () => {
  await withServer(async (srv) => {
    srv.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a', labels: { 'topology.kubernetes.io/zone': 'z1' } } });
    srv.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-b' } });
    const h = new RecordingHandler();
    const r = reflector(srv, h, 'Node');
    r.start();
    await waitFor(() => srv.activeWatches() === 1, 'watching');
    const n = srv.get('Node', '', 'node-a')!;
    srv.update({ ...n, metadata: { ...(n.metadata as object), labels: { 'topology.kubernetes.io/zone': 'z2' } } });
    srv.update({ ...srv.get('Node', '', 'node-b')!, metadata: { name: 'node-b', labels: { x: 'y' } } });
    await waitFor(() => h.events.some((e) => e.type === 'MODIFIED'), 'node modified');
    assert.deepEqual(h.keys('Node'), ['node-a']);
    assertSameState(srv, h, 'Node');
    const t0 = Date.now();
    await r.stop();
    assert.ok(Date.now() - t0 < 1000, 'stop is prompt');
    await waitFor(() => srv.activeWatches() === 0, 'watch closed on the server');
  });
});

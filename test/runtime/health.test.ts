// /healthz and /livez: upstream bodies (field order), status codes, headers and counters.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { AddressInfo } from 'node:net';
import { ProxyHealth, goTime } from '../../src/health/proxy-health.js';
import { nodeEligible } from '../../src/node/addresses.js';
import { healthzHandler } from '../../src/server/healthz.js';
import { serve, type ManagedServer } from '../../src/net/listen.js';
import { configureLogging } from '../../src/log/logger.js';
import { metrics } from '../../src/metrics/metrics.js';
import { nodeObject } from './fixtures.js';

configureLogging({ sink: () => undefined });

let now = Date.parse('2026-11-25T10:00:00.123Z');
const health = new ProxyHealth(60_000, () => now);
let node: unknown = nodeObject('node-a', ['198.18.0.1']);
health.nodeEligible = () => nodeEligible(node);

const servers: ManagedServer[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

async function base(): Promise<string> {
  const s = serve('healthz', '127.0.0.1:0', healthzHandler(health), { hardFail: true });
  servers.push(s);
  const a: AddressInfo = await s.ready;
  return `http://127.0.0.1:${a.port}`;
}
const url = base();

async function get(path: string): Promise<{ status: number; body: string; headers: Headers }> {
  const r = await fetch((await url) + path);
  return { status: r.status, body: await r.text(), headers: r.headers };
}

async function counter(c: typeof metrics.healthzTotal, code: string): Promise<number> {
  return (await c.get()).values.find((v) => v.labels.code === code)?.value ?? 0;
}

test('goTime formats like Go RFC3339Nano (trailing zeros trimmed)', () => {
  assert.equal(goTime(new Date('2026-11-25T10:00:00.120Z')), '2026-11-25T10:00:00.12Z');
  assert.equal(goTime(new Date('2026-11-25T10:00:00.000Z')), '2026-11-25T10:00:00Z');
});

test('fresh proxy: 200, no per-family status yet, lastUpdated is now, headers', async () => {
  const before = await counter(metrics.healthzTotal, '200');
  const r = await get('/healthz');
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'application/json');
  assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(
    r.body,
    '{"lastUpdated":"2026-11-25T10:00:00.123Z","currentTime":"2026-11-25T10:00:00.123Z","nodeEligible":true,"healthy":true}',
  );
  assert.equal(await counter(metrics.healthzTotal, '200'), before + 1);
});

test('synced families: status per family, IPv4 before IPv6; /livez has no nodeEligible', async () => {
  health.updated('IPv6');
  now += 1000;
  health.updated('IPv4');
  now += 500;
  const r = await get('/livez');
  assert.equal(r.status, 200);
  assert.equal(
    r.body,
    '{"lastUpdated":"2026-11-25T10:00:01.623Z","currentTime":"2026-11-25T10:00:01.623Z","healthy":true,' +
      '"status":{"IPv4":{"lastUpdated":"2026-11-25T10:00:01.123Z","healthy":true},"IPv6":{"lastUpdated":"2026-11-25T10:00:00.123Z","healthy":true}}}',
  );
});

test('a pending update younger than the timeout is healthy; older is 503 with the real lastUpdated', async () => {
  const queuedAt = now;
  health.queuedUpdate('IPv4');
  now = queuedAt + 59_999;
  assert.equal((await get('/healthz')).status, 200);
  health.queuedUpdate('IPv4'); // does not move the oldest pending time
  now = queuedAt + 60_000;
  const before503 = await counter(metrics.healthzTotal, '503');
  const beforeLivez = await counter(metrics.livezTotal, '503');
  const r = await get('/healthz');
  assert.equal(r.status, 503);
  assert.equal(
    r.body,
    '{"lastUpdated":"2026-11-25T10:00:01.123Z","currentTime":"2026-11-25T10:01:01.623Z","nodeEligible":true,"healthy":false,' +
      '"status":{"IPv4":{"lastUpdated":"2026-11-25T10:00:01.123Z","healthy":false},"IPv6":{"lastUpdated":"2026-11-25T10:00:00.123Z","healthy":true}}}',
  );
  assert.equal((await get('/livez')).status, 503);
  assert.equal(await counter(metrics.healthzTotal, '503'), before503 + 1);
  assert.equal(await counter(metrics.livezTotal, '503'), beforeLivez + 1);
  health.updated('IPv4');
  assert.equal((await get('/healthz')).status, 200);
});

test('node being deleted or tainted by the autoscaler: /healthz 503 nodeEligible false, /livez 200', async () => {
  for (const n of [nodeObject('node-a', ['198.18.0.1'], { deleting: true }), nodeObject('node-a', ['198.18.0.1'], { taint: true }), null]) {
    node = n;
    const r = await get('/healthz');
    assert.equal(r.status, 503);
    const body = JSON.parse(r.body) as Record<string, unknown>;
    assert.deepEqual(Object.keys(body), ['lastUpdated', 'currentTime', 'nodeEligible', 'healthy', 'status']);
    assert.equal(body.nodeEligible, false);
    assert.equal(body.healthy, true, 'the proxy itself is healthy');
    assert.equal((await get('/livez')).status, 200);
  }
  node = nodeObject('node-a', ['198.18.0.1']);
  assert.equal((await get('/healthz')).status, 200);
});

test('other paths are 404', async () => {
  const r = await get('/metrics');
  assert.equal(r.status, 404);
});

test('a bind failure with hardFail rejects; without it, it retries until the port frees', async () => {
  const first = serve('a', '127.0.0.1:0', healthzHandler(health), { hardFail: true });
  servers.push(first);
  const port = (await first.ready).port;
  const hard = serve('b', `127.0.0.1:${port}`, healthzHandler(health), { hardFail: true });
  await assert.rejects(hard.ready, /failed to start b server/);
  const soft = serve('c', `127.0.0.1:${port}`, healthzHandler(health), { hardFail: false, retryMs: 50 });
  servers.push(soft);
  await new Promise((r) => setTimeout(r, 120));
  await first.close();
  const a = await soft.ready;
  assert.equal(a.port, port);
});

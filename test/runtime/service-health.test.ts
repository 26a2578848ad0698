// Per-Service health check NodePorts: exact upstream body, headers, 200/503 rules, open/close/retry.

import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { ServiceHealthServer, serviceHealthBody } from '../../src/health/service-health.js';
import { configureLogging } from '../../src/log/logger.js';

configureLogging({ sink: () => undefined });

async function freePort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen({ host: '127.0.0.1', port: 0 }, () => r()));
  const p = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

test('body is tab-indented with no trailing newline', () => {
  assert.equal(
    serviceHealthBody('ns', 'svc', 1, true),
    '{\n\t"service": {\n\t\t"namespace": "ns",\n\t\t"name": "svc"\n\t},\n\t"localEndpoints": 1,\n\t"serviceProxyHealthy": true\n}',
  );
});

test('serves 200 with local endpoints and a healthy proxy, else 503; any path and method', async () => {
  let healthy = true;
  const shs = new ServiceHealthServer({ isHealthy: () => healthy });
  const port = await freePort();
  try {
    await shs.syncServices(new Map([['ns1/web', port]]), ['127.0.0.1']);
    assert.deepEqual([...shs.ports()], [['ns1/web', port]]);
    shs.syncEndpoints(new Map([['ns1/web', 2]]));
    let r = await fetch(`http://127.0.0.1:${port}/anything?x=1`, { method: 'POST' });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/json');
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(r.headers.get('x-load-balancing-endpoint-weight'), '2');
    assert.equal(await r.text(), serviceHealthBody('ns1', 'web', 2, true));

    healthy = false;
    r = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(r.status, 503);
    assert.equal(await r.text(), serviceHealthBody('ns1', 'web', 2, false));

    healthy = true;
    shs.syncEndpoints(new Map()); // absent -> 0 local endpoints
    r = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(r.status, 503);
    assert.equal(r.headers.get('x-load-balancing-endpoint-weight'), '0');
    assert.equal(await r.text(), serviceHealthBody('ns1', 'web', 0, true));

    await shs.syncServices(new Map(), ['127.0.0.1']);
    await assert.rejects(fetch(`http://127.0.0.1:${port}/`));
  } finally {
    await shs.close();
  }
});

test('a port that cannot be opened is skipped and retried on the next sync', async () => {
  const shs = new ServiceHealthServer({ isHealthy: () => true });
  const blocker = http.createServer();
  await new Promise<void>((r) => blocker.listen({ host: '127.0.0.1', port: 0 }, () => r()));
  const port = (blocker.address() as AddressInfo).port;
  try {
    await shs.syncServices(new Map([['ns/a', port]]), ['127.0.0.1']);
    assert.equal(shs.ports().size, 0);
    await new Promise<void>((r) => blocker.close(() => r()));
    await shs.syncServices(new Map([['ns/a', port]]), ['127.0.0.1']);
    assert.equal(shs.ports().get('ns/a'), port);
    shs.syncEndpoints(new Map([['ns/a', 1]]));
    const r = await fetch(`http://127.0.0.1:${port}/`);
    assert.equal(r.status, 200);
    await r.text();
  } finally {
    await shs.close();
  }
});

test('changing the port closes the old listener and opens the new one', async () => {
  const shs = new ServiceHealthServer({ isHealthy: () => true });
  const p1 = await freePort();
  const p2 = await freePort();
  try {
    await shs.syncServices(new Map([['ns/a', p1]]), ['127.0.0.1']);
    await shs.syncServices(new Map([['ns/a', p2]]), ['127.0.0.1']);
    await assert.rejects(fetch(`http://127.0.0.1:${p1}/`));
    const r = await fetch(`http://127.0.0.1:${p2}/`);
    assert.equal(r.status, 503);
    await r.text();
  } finally {
    await shs.close();
  }
});

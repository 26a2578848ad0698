// The event recorder: upstream's event shape (events.k8s.io/v1, reportingController kube-proxy,
// regarding the Node), never blocking the caller, repeats within the window not re-sent, a bounded
// queue, retries on 5xx only; and against the test API server, the real kubectl lists what it wrote.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { EventRecorder, flushEvents, recordEvent, setEventRecorder, type EventSink } from '../../src/events/recorder.js';
import { configureLogging } from '../../src/log/logger.js';
import { apiServerEventSink } from '../../src/sources/apiserver.js';
import { startTestApiServer } from '../../tools/test-apiserver/server.js';

configureLogging({ sink: () => undefined });
const exec = promisify(execFile);
const KUBECTL = process.env.KUBECTL ?? '/usr/bin/kubectl';

interface Posted {
  path: string;
  body: Record<string, unknown>;
}

function fakeSink(statuses: number[] = [], delayMs = 0): EventSink & { posted: Posted[]; calls: number } {
  const sink = {
    posted: [] as Posted[],
    calls: 0,
    async post(path: string, body: unknown) {
      sink.calls++;
      if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
      const status = statuses.shift() ?? 201;
      if (status < 300) sink.posted.push({ path, body: body as Record<string, unknown> });
      return { status, body: '{}' };
    },
  };
  return sink;
}

test('event shape as upstream: events.k8s.io/v1, kube-proxy-<hostname>, regarding the Node, namespace default', async () => {
  const sink = fakeSink();
  const at = new Date('2026-12-05T08:00:00.123Z');
  const r = new EventRecorder({ sink, nodeName: 'node-a', hostname: 'host1', now: () => at });
  r.record('Normal', 'Starting', 'StartKubeProxy', '');
  await r.flush(2000);
  assert.equal(sink.posted.length, 1);
  const { path, body } = sink.posted[0]!;
  assert.equal(path, '/apis/events.k8s.io/v1/namespaces/default/events');
  assert.match((body.metadata as { name: string }).name, /^node-a\.[0-9a-f]+$/);
  assert.deepEqual({ ...body, metadata: { namespace: (body.metadata as { namespace: string }).namespace } }, {
    apiVersion: 'events.k8s.io/v1',
    kind: 'Event',
    metadata: { namespace: 'default' },
    eventTime: '2026-12-05T08:00:00.123000Z',
    reportingController: 'kube-proxy',
    reportingInstance: 'kube-proxy-host1',
    action: 'StartKubeProxy',
    reason: 'Starting',
    regarding: { kind: 'Node', name: 'node-a', uid: 'node-a' },
    note: '',
    type: 'Normal',
  });
});

test('record() returns at once while the sink is slow; repeats within the window are not re-sent; the queue is bounded', async () => {
  const sink = fakeSink([], 500);
  const r = new EventRecorder({ sink, nodeName: 'node-a', hostname: 'h', maxQueue: 3, qps: 0 });
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 10; i++) r.record('Warning', 'FailedToStartProxierHealthcheck', 'StartKubeProxy', 'port busy');
  for (let i = 0; i < 5; i++) r.record('Warning', `Other${i}`, 'StartKubeProxy', 'x');
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  // One wait for the 500 ms sink would show; the margin absorbs a GC pause on a loaded machine.
  assert.ok(ms < 400, `record() must not wait for the sink (took ${ms} ms)`);
  await r.flush(5000);
  assert.deepEqual(sink.posted.map((p) => p.body.reason), ['FailedToStartProxierHealthcheck', 'Other0', 'Other1']);
  assert.equal(r.stats.deduplicated, 9);
  assert.equal(r.stats.dropped, 3);
  // A different note is a different event.
  r.record('Warning', 'FailedToStartProxierHealthcheck', 'StartKubeProxy', 'another error');
  await r.flush(5000);
  assert.equal(sink.posted.length, 4);
});

test('5xx and network errors are retried; 4xx is not; a throwing sink never reaches the caller', async () => {
  const sink = fakeSink([503, 500, 201, 403]);
  const r = new EventRecorder({ sink, nodeName: 'n', hostname: 'h', qps: 0, retryDelayMs: 10 });
  r.record('Normal', 'A', 'X', '');
  r.record('Normal', 'B', 'X', '');
  await r.flush(5000);
  assert.deepEqual(sink.posted.map((p) => p.body.reason), ['A']);
  assert.equal(sink.calls, 4, 'A: 503, 500, 201; B: 403 once');
  assert.equal(r.stats.failed, 1);
  const broken = new EventRecorder({ sink: { post: () => Promise.reject(new Error('ECONNREFUSED')) }, nodeName: 'n', hostname: 'h', qps: 0, retryDelayMs: 5 });
  broken.record('Normal', 'A', 'X', '');
  await broken.flush(5000);
  assert.equal(broken.stats.failed, 1);
});

test('recordEvent() without a recorder (--manifests) is a no-op; with one it records about the node', async () => {
  setEventRecorder(null);
  recordEvent('Starting', 'Normal', '');
  await flushEvents(100);
  const sink = fakeSink();
  const r = new EventRecorder({ sink, nodeName: 'node-a', hostname: 'h', qps: 0 });
  setEventRecorder(r);
  try {
    recordEvent('FailedToStartServiceHealthcheck', 'Warning', 'busy', { action: 'Listen', regarding: { kind: 'Service', namespace: 'ns1', name: 'web', uid: 'ns1/web' } });
    await flushEvents(2000);
    assert.equal(sink.posted[0]!.path, '/apis/events.k8s.io/v1/namespaces/ns1/events');
    assert.deepEqual(sink.posted[0]!.body.regarding, { kind: 'Service', namespace: 'ns1', name: 'web', uid: 'ns1/web' });
    assert.equal(sink.posted[0]!.body.action, 'Listen');
  } finally {
    setEventRecorder(null);
  }
});

test('against the test API server: the real kubectl get events shows what the recorder wrote', async (t) => {
  if (!existsSync(KUBECTL)) {
    t.skip(`${KUBECTL} not found`);
    return;
  }
  const srv = await startTestApiServer();
  try {
    const r = new EventRecorder({ sink: apiServerEventSink(srv.kubeconfigPath, ''), nodeName: 'node-a', hostname: 'host1' });
    r.record('Normal', 'Starting', 'StartKubeProxy', '');
    r.record('Warning', 'FailedToStartProxierHealthcheck', 'StartKubeProxy', 'failed to start proxier healthz on 0.0.0.0:10256: address in use');
    await r.flush(5000);
    assert.equal(r.stats.sent, 2);
    const kubectl = async (...args: string[]): Promise<string> => (await exec(KUBECTL, ['--kubeconfig', srv.kubeconfigPath, ...args], { timeout: 30_000 })).stdout;
    const table = await kubectl('get', 'events');
    assert.match(table, /^LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE\n/);
    assert.match(table, /\n\S+\s+Normal\s+Starting\s+node\/node-a\s*\n/);
    assert.match(table, /Warning\s+FailedToStartProxierHealthcheck\s+node\/node-a\s+failed to start proxier healthz on 0\.0\.0\.0:10256: address in use/);
    const json = JSON.parse(await kubectl('get', 'events', '-o', 'json')) as { items: { reportingController: string; reportingInstance: string }[] };
    assert.equal(json.items.length, 2);
    for (const e of json.items) assert.deepEqual([e.reportingController, e.reportingInstance], ['kube-proxy', 'kube-proxy-host1']);
  } finally {
    await srv.stop();
  }
});

// kubeproxy_ts_service_programming_duration_seconds: values (event -> programmed) and the bound on
// its cardinality (N labelled services + "(other)").

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Histogram } from 'prom-client';
import { OTHER_SERVICES, ServiceLatencyTracker, serviceLatencyBuckets, serviceOfEvent } from '../../src/metrics/service-latency.js';

function setup(topN: number) {
  const h = new Histogram({ name: 'test_latency', help: 'x', labelNames: ['service'] as const, buckets: serviceLatencyBuckets, registers: [] });
  let now = 1_000_000;
  const tr = new ServiceLatencyTracker(topN, h, () => now, ['IPv4']);
  const series = async () => {
    const m = await h.get();
    const counts = new Map<string, number>();
    const sums = new Map<string, number>();
    for (const v of m.values) {
      const svc = String(v.labels.service);
      if (v.metricName === 'test_latency_count') counts.set(svc, v.value);
      if (v.metricName === 'test_latency_sum') sums.set(svc, v.value);
    }
    return { counts, sums };
  };
  return { tr, series, advance: (ms: number) => (now += ms), at: () => now };
}

test('one observation per programmed change, measured from the first event to the end of the sync', async () => {
  const { tr, series, advance, at } = setup(5);
  tr.onEvent('default/web');
  advance(300);
  tr.onEvent('default/web'); // a second event before programming: still measured from the first
  advance(200);
  const builtAt = at();
  advance(250);
  tr.onSynced('IPv4', ['default/web:http/TCP'], builtAt);
  const { counts, sums } = await series();
  assert.equal(counts.get('default/web'), 1);
  assert.equal(sums.get('default/web'), 0.75);
  // An event after the build started waits for the next sync.
  tr.onEvent('default/web');
  tr.onSynced('IPv4', [], builtAt);
  assert.equal((await series()).counts.get('default/web'), 1);
});

test('a failed sync carries its changes to the next success; a service the build did not change is not observed', async () => {
  const { tr, series, advance, at } = setup(5);
  tr.onEvent('default/a');
  tr.onEvent('default/b');
  advance(100);
  tr.onFailed('IPv4', ['default/a:p/TCP']);
  advance(100);
  tr.onSynced('IPv4', [], at());
  const { counts, sums } = await series();
  assert.equal(counts.get('default/a'), 1);
  assert.equal(sums.get('default/a'), 0.2);
  assert.equal(counts.has('default/b'), false, 'b changed nothing in this family');
});

test('cardinality: at most N services plus "(other)"; busier services take the slots', async () => {
  const N = 3;
  const { tr, series, at } = setup(N);
  // 200 services with one change each, then three with many.
  for (let i = 0; i < 200; i++) tr.onEvent(`ns/quiet-${i}`);
  tr.onSynced('IPv4', Array.from({ length: 200 }, (_, i) => `ns/quiet-${i}:p/TCP`), at());
  for (let round = 0; round < 5; round++) {
    for (const s of ['ns/busy-1', 'ns/busy-2', 'ns/busy-3']) tr.onEvent(s);
    tr.onSynced('IPv4', ['ns/busy-1:p/TCP', 'ns/busy-2:p/TCP', 'ns/busy-3:p/TCP'], at());
  }
  const { counts } = await series();
  assert.ok(counts.size <= N + 1, `series: ${[...counts.keys()].join(', ')}`);
  assert.deepEqual(tr.labels(), ['ns/busy-1', 'ns/busy-2', 'ns/busy-3']);
  // Space-Saving over-counts newcomers, so a few quiet services may hold a slot for a while
  // (their series go when a busier one takes it): most land in (other).
  assert.ok((counts.get(OTHER_SERVICES) ?? 0) >= 150, `(other): ${counts.get(OTHER_SERVICES)}`);
  // A busy service gets its slot once its count passes the weakest labelled one's: from then on
  // every observation is its own (5 rounds; the first may still land in (other)).
  assert.ok((counts.get('ns/busy-1') ?? 0) >= 4, `busy-1: ${counts.get('ns/busy-1')}`);
});

test('serviceOfEvent: Services by name, EndpointSlices by their service label', () => {
  assert.equal(serviceOfEvent('Service', { metadata: { name: 'web', namespace: 'default' } }), 'default/web');
  assert.equal(serviceOfEvent('EndpointSlice', { metadata: { name: 'web-x', namespace: 'ns', labels: { 'kubernetes.io/service-name': 'web' } } }), 'ns/web');
  assert.equal(serviceOfEvent('EndpointSlice', { metadata: { name: 'orphan', namespace: 'ns' } }), null);
  assert.equal(serviceOfEvent('Node', { metadata: { name: 'n' } }), null);
  assert.equal(serviceOfEvent('Service', 'garbage'), null);
});

// dedupeSorted against a direct transcription of upstream addEndpoints + sort.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { dedupeSorted } from '../../src/model/merge.js';
import { joinHostPort } from '../../src/model/ip.js';
import type { Endpoint } from '../../src/model/types.js';

function reference(eps: readonly Endpoint[]): Endpoint[] {
  const set = new Map<string, Endpoint>();
  for (const ep of eps) {
    const k = joinHostPort(ep.ip, ep.port);
    if (!set.has(k) || !ep.terminating) set.set(k, ep);
  }
  return [...set.keys()].sort().map((k) => set.get(k)!);
}

const endpoint = fc.record({
  ip: fc.constantFrom('198.18.100.1', '198.18.100.10', '198.18.100.2', '2001:db8:100::1', '2001:db8:100::a'),
  port: fc.constantFrom(80, 8080, 9),
  ready: fc.boolean(),
  serving: fc.boolean(),
  terminating: fc.boolean(),
  isLocal: fc.boolean(),
  nodeName: fc.constantFrom('a', 'b'),
  zone: fc.constant(''),
  zoneHints: fc.constant(null),
  nodeHints: fc.constant(null),
});

test('dedupeSorted equals upstream addEndpoints + sort (identity of the winner included)', () => {
  fc.assert(
    fc.property(fc.array(endpoint, { maxLength: 30 }), (eps) => {
      const got = dedupeSorted(eps);
      const want = reference(eps);
      assert.equal(got.length, want.length);
      got.forEach((ep, i) => assert.equal(ep, want[i]));
    }),
    { numRuns: 1000 },
  );
});

test('within one slice: a later non-terminating copy beats an earlier one; a later terminating copy does not', () => {
  const mk = (nodeName: string, terminating: boolean): Endpoint => ({
    ip: '198.18.100.1',
    port: 80,
    ready: !terminating,
    serving: true,
    terminating,
    isLocal: false,
    nodeName,
    zone: '',
    zoneHints: null,
    nodeHints: null,
  });
  assert.deepEqual(dedupeSorted([mk('old', true), mk('new', false)]).map((e) => e.nodeName), ['new']);
  assert.deepEqual(dedupeSorted([mk('first', false), mk('second', true)]).map((e) => e.nodeName), ['first']);
  assert.deepEqual(dedupeSorted([mk('first', true), mk('second', true)]).map((e) => e.nodeName), ['first']);
  assert.deepEqual(dedupeSorted([mk('a', false), mk('b', false), mk('c', true)]).map((e) => e.nodeName), ['b']);
});

test('a single-port slice yields the parse’s own endpoint objects; other ports and another node get their own', async () => {
  const { parseEndpointSlice } = await import('../../src/model/endpointslice.js');
  const { mergeSlices } = await import('../../src/model/merge.js');
  const raw = (ports: unknown[]) => ({
    metadata: { name: 'web-1', namespace: 'ns', labels: { 'kubernetes.io/service-name': 'web' } },
    addressType: 'IPv4',
    ports,
    endpoints: [
      { addresses: ['198.18.0.2'], nodeName: 'node-a' },
      { addresses: ['198.18.0.1'], nodeName: 'node-b' },
    ],
  });
  const one = parseEndpointSlice(raw([{ name: 'http', port: 8080, protocol: 'TCP' }]), 'node-a');
  assert.equal(one.kind, 'ok');
  if (one.kind !== 'ok') return;
  const merged = mergeSlices([one.slice], 'node-a').get('http/TCP')!;
  assert.deepEqual(merged.map((e) => `${e.ip}:${e.port}:${e.isLocal}`), ['198.18.0.1:8080:false', '198.18.0.2:8080:true']);
  for (const e of merged) assert.ok(one.slice.endpoints.includes(e), 'the same object, not a copy');
  // Seen from another node: locality differs, so new objects with the right isLocal.
  const other = mergeSlices([one.slice], 'node-b').get('http/TCP')!;
  assert.deepEqual(other.map((e) => `${e.ip}:${e.isLocal}`), ['198.18.0.1:true', '198.18.0.2:false']);
  // Two ports: the second gets its own objects with its own port number.
  const two = parseEndpointSlice(raw([{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'metrics', port: 9090, protocol: 'TCP' }]), 'node-a');
  if (two.kind !== 'ok') assert.fail('parse');
  const m = mergeSlices([two.slice], 'node-a');
  assert.deepEqual(m.get('metrics/TCP')!.map((e) => `${e.ip}:${e.port}:${e.isLocal}`), ['198.18.0.1:9090:false', '198.18.0.2:9090:true']);
  assert.deepEqual(m.get('http/TCP')!.map((e) => e.port), [8080, 8080]);
});

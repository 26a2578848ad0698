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
  ip: fc.constantFrom('10.0.0.1', '10.0.0.10', '10.0.0.2', 'fd00::1', 'fd00::a'),
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
    ip: '10.0.0.1',
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

// SortedMap: a persistent ReadonlyMap that must behave exactly like a key-sorted Map.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SortedMap } from '../../src/model/sortedmap.js';

test('SortedMap matches a sorted Map under random changes, and old versions stay intact', () => {
  const key = fc.integer({ min: 0, max: 2000 }).map((n) => `k${n.toString().padStart(4, '0')}`);
  const step = fc.record({ set: fc.array(fc.tuple(key, fc.integer()), { maxLength: 600 }), remove: fc.array(key, { maxLength: 300 }) });
  fc.assert(
    fc.property(fc.array(step, { maxLength: 6 }), (steps) => {
      let sm = SortedMap.empty<number>();
      const ref = new Map<string, number>();
      const versions: [SortedMap<number>, [string, number][]][] = [];
      for (const st of steps) {
        const set = new Map(st.set);
        const remove = new Set(st.remove.filter((k) => !set.has(k)));
        for (const [k, v] of set) ref.set(k, v);
        for (const k of remove) ref.delete(k);
        sm = sm.withChanges(set, remove);
        const want = [...ref.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1));
        assert.deepEqual([...sm], want);
        assert.deepEqual([...sm.keys()], want.map((e) => e[0]));
        assert.deepEqual([...sm.values()], want.map((e) => e[1]));
        assert.equal(sm.size, want.length);
        for (const [k, v] of want) assert.equal(sm.get(k), v);
        assert.equal(sm.has('k9999'), false);
        assert.equal(sm.get('a'), undefined);
        versions.push([sm, want]);
      }
      for (const [v, want] of versions) assert.deepEqual([...v.entries()], want);
    }),
    { numRuns: 100 },
  );
});

test('SortedMap.forEach, from() with unsorted input, and no-op changes return the same map', () => {
  const m = SortedMap.from([
    ['b', 2],
    ['a', 1],
    ['c', 3],
  ]);
  const seen: string[] = [];
  m.forEach((v, k, map) => {
    seen.push(`${k}=${v}`);
    assert.equal(map, m);
  });
  assert.deepEqual(seen, ['a=1', 'b=2', 'c=3']);
  assert.equal(m.withChanges(new Map(), new Set()), m);
  assert.deepEqual(new Map(m), new Map([['a', 1], ['b', 2], ['c', 3]]));
});

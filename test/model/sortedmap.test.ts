// SortedMap: a persistent ReadonlyMap that must behave exactly like a key-sorted Map, and whose
// versions diff exactly (forEachChange) however many chunks they share.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { forEachChange, SortedMap } from '../../src/model/sortedmap.js';

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

type Change = [string, number | undefined, number | undefined];

/** The changes from `a` to `b` by definition: every key of either whose value differs, in key order. */
function expectedChanges(a: ReadonlyMap<string, number>, b: ReadonlyMap<string, number>): Change[] {
  const keys = [...new Set([...a.keys(), ...b.keys()])].sort();
  return keys.filter((k) => a.get(k) !== b.get(k)).map((k): Change => [k, a.get(k), b.get(k)]);
}

function changes(a: ReadonlyMap<string, number>, b: ReadonlyMap<string, number>): Change[] {
  const out: Change[] = [];
  forEachChange(a, b, (k, before, after) => void out.push([k, before, after]));
  return out;
}

/** One step of both: the SortedMap under test and the plain Map it must equal. */
function applyBoth(sm: SortedMap<number>, ref: Map<string, number>, set: ReadonlyMap<string, number>, remove: ReadonlySet<string>): SortedMap<number> {
  for (const [k, v] of set) ref.set(k, v);
  for (const k of remove) ref.delete(k);
  return sm.withChanges(set, remove);
}

/** forEachChange between every two versions equals the naive diff of their reference Maps. */
function assertEveryPair(versions: readonly [SortedMap<number>, Map<string, number>][], alsoPlainMaps: boolean): void {
  for (const [a, ra] of versions) {
    for (const [b, rb] of versions) {
      const want = expectedChanges(ra, rb);
      assert.deepEqual(changes(a, b), want);
      // Plain Maps (any order): the same changes.
      if (alsoPlainMaps) assert.deepEqual(changes(ra, rb).sort((x, y) => (x[0] < y[0] ? -1 : 1)), want);
    }
  }
}

test('forEachChange between any two versions (shared chunks or not) lists exactly the changed keys, in key order', () => {
  // Up to 2000 keys: several 256-key chunks, most shared between consecutive versions.
  const key = fc.integer({ min: 0, max: 2000 }).map((n) => `k${n.toString().padStart(4, '0')}`);
  const step = fc.record({
    // size 'max': fast-check's default size would keep these arrays to ~10 keys (one chunk).
    set: fc.array(fc.tuple(key, fc.integer({ min: 0, max: 3 })), { maxLength: 400, size: 'max' }),
    remove: fc.array(key, { maxLength: 200, size: 'max' }),
  });
  fc.assert(
    fc.property(fc.array(step, { minLength: 1, maxLength: 6 }), (steps) => {
      let sm = SortedMap.empty<number>();
      const ref = new Map<string, number>();
      const versions: [SortedMap<number>, Map<string, number>][] = [[sm, new Map()]];
      for (const st of steps) {
        const set = new Map(st.set);
        const remove = new Set(st.remove.filter((k) => !set.has(k)));
        sm = applyBoth(sm, ref, set, remove);
        versions.push([sm, new Map(ref)]);
      }
      // Unrelated maps (from()) holding the same content: nothing shared, same answer.
      versions.push([SortedMap.from(ref), new Map(ref)]);
      assertEveryPair(versions, true);
    }),
    { numRuns: 60 },
  );
});

test('forEachChange reports a value replaced by an equal-looking one (identity, not content)', () => {
  const o1 = { v: 1 };
  const o2 = { v: 1 };
  const a = SortedMap.from([['x', o1]]);
  const b = a.withChanges(new Map([['x', o2]]), new Set());
  const seen: string[] = [];
  forEachChange(a, b, (k, before, after) => void seen.push(`${k}:${before === o1}:${after === o2}`));
  assert.deepEqual(seen, ['x:true:true']);
  forEachChange(a, a, () => assert.fail('same map: no change'));
});

/** The chunk layout of a SortedMap (private): how many keys each chunk holds. */
function chunkSizes(m: SortedMap<unknown>): number[] {
  return (m as unknown as { chunks: readonly { keys: readonly string[] }[] }).chunks.map((c) => c.keys.length);
}

test('forEachChange equals a naive diff across chunk splits, dropped chunks and from() rebuilds (ranges of keys)', () => {
  // Changes by key range: a range write of up to 700 keys into one chunk splits it into several
  // 256-key chunks; a range removal empties whole chunks (dropped) and leaves short ones beside
  // them (withChanges never merges chunks back). Every version is compared with every other.
  const N = 3000;
  const k = (i: number): string => `s${i.toString().padStart(5, '0')}`;
  const op = fc.record({
    kind: fc.constantFrom('set', 'set', 'remove', 'remove', 'one', 'rebuild'),
    start: fc.integer({ min: 0, max: N - 1 }),
    len: fc.integer({ min: 1, max: 700 }),
    // 0..3: few distinct values, so a write often stores the value already there (no change).
    v: fc.integer({ min: 0, max: 3 }),
  });
  const seen = { splits: 0, drops: 0, short: 0 };
  fc.assert(
    fc.property(fc.array(op, { minLength: 1, maxLength: 10 }), (ops) => {
      let sm = SortedMap.empty<number>();
      const ref = new Map<string, number>();
      const versions: [SortedMap<number>, Map<string, number>][] = [[sm, new Map()]];
      for (const o of ops) {
        // Removals twice as long: enough to empty whole chunks.
        const end = Math.min(N, o.start + (o.kind === 'one' ? 1 : o.kind === 'remove' ? 2 * o.len : o.len));
        const set = new Map<string, number>();
        const remove = new Set<string>();
        if (o.kind === 'rebuild') {
          sm = SortedMap.from(ref);
        } else {
          for (let i = o.start; i < end; i++) {
            if (o.kind === 'remove') remove.add(k(i));
            else set.set(k(i), (o.v + i) % 4);
          }
          const before = chunkSizes(sm);
          sm = applyBoth(sm, ref, set, remove);
          const after = chunkSizes(sm);
          if (after.length > before.length) seen.splits++;
          if (after.length < before.length) seen.drops++;
          if (after.some((n) => n < 128)) seen.short++;
          assert.ok(after.every((n) => n > 0 && n <= 256), `chunk sizes ${after.join(',')}`);
        }
        versions.push([sm, new Map(ref)]);
      }
      assertEveryPair(versions, false);
    }),
    { numRuns: 80 },
  );
  // The generator must reach the cases this test is about.
  assert.ok(seen.splits > 20 && seen.drops > 3 && seen.short > 20, JSON.stringify(seen));
});

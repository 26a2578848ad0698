// The manifests source's object fingerprint: equal values agree, values that differ in any way differ.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FingerprintError, fingerprint } from '../../src/sources/fingerprint.js';

test('equal values agree; an absent key and an undefined one are the same (as in JSON)', () => {
  const a = { kind: 'Service', metadata: { name: 'x', labels: { a: 'b' } }, spec: { ports: [{ port: 80 }] } };
  assert.equal(fingerprint(a), fingerprint(JSON.parse(JSON.stringify(a))));
  assert.equal(fingerprint({ a: 1, b: undefined }), fingerprint({ a: 1 }));
  assert.ok(Number.isSafeInteger(fingerprint(a)));
});

test('values that differ in type, shape, boundaries or JSON-unwritable numbers differ', () => {
  const distinct: unknown[] = [
    null, 0, -0, '0', Infinity, -Infinity, NaN, true, false, '', [], {}, [[]], [{}], { '': '' },
    ['ab'], ['a', 'b'], { ab: '' }, { a: 'b' }, { a: {}, b: 1 }, { a: { b: 1 } }, [null], [undefined], { a: [1, 2] }, { a: [1], b: [2] },
    { a: 1, b: 2 }, '1', 1, 10, 1.5,
  ];
  const seen = new Map<number, unknown>();
  for (const v of distinct) {
    const f = fingerprint(v);
    assert.ok(!seen.has(f), `${JSON.stringify(v)} and ${JSON.stringify(seen.get(f))} collide`);
    seen.set(f, v);
  }
});

test('a cycle (a YAML alias of an enclosing node) is an error, not a stack overflow', () => {
  const o: Record<string, unknown> = { a: 1 };
  o.self = o;
  assert.throws(() => fingerprint(o), FingerprintError);
});

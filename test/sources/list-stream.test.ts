// The incremental LIST body parser: every way of cutting a body into chunks yields the items and the
// head that JSON.parse of the whole body gives; malformed bodies are errors, never half-silent.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ListStreamParser } from '../../src/sources/list-stream.js';

function parseChunks(chunks: readonly string[]): { items: unknown[]; head: Record<string, unknown>; hadItems: boolean } {
  const items: unknown[] = [];
  const p = new ListStreamParser((it) => items.push(it));
  for (const c of chunks) p.write(c);
  const { head, hadItems, count } = p.end();
  assert.equal(count, items.length);
  return { items, head, hadItems };
}

function cut(text: string, points: readonly number[]): string[] {
  const at = [...new Set(points.map((p) => p % (text.length + 1)))].sort((a, b) => a - b);
  const out: string[] = [];
  let prev = 0;
  for (const p of at) {
    out.push(text.slice(prev, p));
    prev = p;
  }
  out.push(text.slice(prev));
  return out;
}

// Strings with quotes, backslashes (runs of them before quotes), braces and brackets: what could fool a scanner.
const tricky = fc.stringMatching(/^[a-z"\\{}[\]:,é ]{0,12}$/);
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    tricky,
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('v'), { maxLength: 3 }),
    fc.dictionary(tricky, tie('v'), { maxKeys: 3 }),
  ),
})).v;
const item = fc.record({ metadata: fc.record({ name: tricky, resourceVersion: fc.nat().map(String) }), spec: fc.dictionary(tricky, value, { maxKeys: 4 }) });

test('any chunking of a list body gives the same items and head as JSON.parse', () => {
  fc.assert(
    fc.property(
      fc.array(item, { maxLength: 6 }),
      fc.record({ resourceVersion: fc.nat().map(String), continue: fc.option(tricky, { nil: undefined }) }),
      fc.boolean(),
      fc.array(fc.nat(), { maxLength: 8 }),
      fc.constantFrom('', ' ', '\n  '),
      (items, metadata, metaLast, points, ws) => {
        const body = metaLast ? { kind: 'ServiceList', items, metadata, apiVersion: 'v1' } : { kind: 'ServiceList', apiVersion: 'v1', metadata, items };
        const text = JSON.stringify(body, null, ws ? 1 : 0);
        const r = parseChunks(cut(text, points));
        // (Compared as JSON values: the generated objects have no prototype.)
        assert.deepEqual(r.items, JSON.parse(JSON.stringify(items)));
        assert.deepEqual(r.head, JSON.parse(JSON.stringify({ ...body, items: [] })));
        assert.equal(r.hadItems, true);
      },
    ),
    { numRuns: 400 },
  );
});

test('one character at a time; an escaped quote and a backslash run across chunk edges', () => {
  const items = [{ metadata: { name: 'a\\"}]' }, spec: { x: '\\\\' } }, { metadata: { name: '"[' } }];
  const text = JSON.stringify({ metadata: { resourceVersion: '7' }, items });
  const r = parseChunks([...text]);
  assert.deepEqual(r.items, items);
  assert.deepEqual(r.head, { metadata: { resourceVersion: '7' }, items: [] });
});

test('nested "items" keys inside objects are not the list items; a body without items says so', () => {
  const body = { metadata: { items: [1, 2] }, kind: 'X' };
  const r = parseChunks([JSON.stringify(body)]);
  assert.deepEqual(r.items, []);
  assert.equal(r.hadItems, false);
  assert.deepEqual(r.head, body);
  const n = parseChunks(['{"items":null,"metadata":{}}']);
  assert.equal(n.hadItems, false);
});

test('malformed bodies are errors', () => {
  assert.throws(() => parseChunks(['{"items":[{"a":1},{"b":]}']));
  assert.throws(() => parseChunks(['{"items":[1,2]}']), /not an object/);
  assert.throws(() => parseChunks(['{"items":[{"a":1}]']));
  assert.throws(() => parseChunks(['[]']), /not a JSON object/);
});

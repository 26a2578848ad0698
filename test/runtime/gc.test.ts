// util/gc.ts: a full collection on demand, in a process started without --expose-gc (as the proxy is).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const gcModule = fileURLToPath(new URL('../../src/util/gc.js', import.meta.url));
// ~60 MB of objects that become garbage at once; a full GC must return the heap to about its size before.
const probe = `
const { collectGarbage } = await import(${JSON.stringify(gcModule)});
const base = collectGarbage().after;
let junk = [];
for (let i = 0; i < 1e6; i++) junk.push({ i, s: 'endpoint-' + i });
junk = null;
const r = collectGarbage();
console.log(JSON.stringify({ base, before: r.before, after: r.after, exposed: typeof globalThis.gc }));
`;

test('collectGarbage frees garbage without --expose-gc, and does not expose gc() to the proxy’s globals', () => {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  assert.equal(r.status, 0, r.stderr);
  const o = JSON.parse(r.stdout) as { base: number; before: number; after: number; exposed: string };
  assert.ok(o.before - o.base > 30e6, `the garbage was on the heap: ${JSON.stringify(o)}`);
  assert.ok(o.after - o.base < 10e6, `and is gone after the collection: ${JSON.stringify(o)}`);
  assert.equal(o.exposed, 'undefined');
});

test('logGcPauses reports collections at least minMs long, and nothing shorter', () => {
  const pauses = `
const { collectGarbage, logGcPauses } = await import(${JSON.stringify(gcModule)});
const seen = [];
logGcPauses((msg, f) => seen.push({ msg, ...f }), 0);
let junk = [];
for (let i = 0; i < 5e5; i++) junk.push({ i });
junk = null;
collectGarbage();
setTimeout(() => console.log(JSON.stringify(seen)), 50);
`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', pauses], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  assert.equal(r.status, 0, r.stderr);
  const seen = JSON.parse(r.stdout) as { msg: string; kind: string; millis: number }[];
  assert.ok(seen.some((p) => p.msg === 'Garbage collection pause' && p.kind === 'major'), `a major pause was logged: ${r.stdout}`);
  const high = `
const { collectGarbage, logGcPauses } = await import(${JSON.stringify(gcModule)});
const seen = [];
logGcPauses((msg, f) => seen.push(f), 60_000);
collectGarbage();
setTimeout(() => console.log(seen.length), 50);
`;
  const r2 = spawnSync(process.execPath, ['--input-type=module', '-e', high], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  assert.equal(r2.stdout.trim(), '0');
});

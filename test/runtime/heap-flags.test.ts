// util/heap-flags.ts: the young generation stays at its initial size, so a start that allocates
// hundreds of MB of survivors (the LIST of a large cluster) does not leave ~30 MB of it behind;
// an operator's own semi-space flag wins.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const flags = fileURLToPath(new URL('../../src/util/heap-flags.js', import.meta.url));
// Allocates ~2M surviving objects (a large start) and prints the new space's size in MiB.
const probe = `
import v8 from 'node:v8';
await import(${JSON.stringify(flags)});
const keep = [];
for (let i = 0; i < 2e6; i++) keep.push({ a: i, b: 'x' + i });
const s = v8.getHeapSpaceStatistics().find((x) => x.space_name === 'new_space');
console.log(s.space_size / 1048576, keep.length);
`;

function newSpaceMiB(execArgv: string[] = []): number {
  const r = spawnSync(process.execPath, [...execArgv, '--input-type=module', '-e', probe], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  assert.equal(r.status, 0, r.stderr);
  return Number(r.stdout.split(' ')[0]);
}

test('the young generation does not grow during a start full of survivors', () => {
  assert.ok(newSpaceMiB() <= 4, `new space ${newSpaceMiB()} MiB`);
});

test('an operator’s semi-space flag is left alone (it can only be set at start, and wins)', () => {
  assert.ok(newSpaceMiB(['--max-semi-space-size=8']) > 4, 'grows to the operator’s 2 × 8 MiB');
});
